/*
 * The monitor's one signal (SIGRTMAX - 3) and each thread's timer for it.
 *
 * The handler does one of two things for the thread it lands on:
 *  - a thread inside KVM_RUN (the vCPU thread, or a caller running a cold
 *    call, cold_call.c) gets run->immediate_exit set, so KVM_RUN returns
 *    EINTR now or refuses the next entry (a signal landing just outside
 *    KVM_RUN is not lost);
 *  - a thread running an in-process kernel under a deadline (inproc.c) is
 *    unwound to the point that armed it (siglongjmp): kernels are pure
 *    computation on caller buffers -- no locks, no allocation -- so
 *    abandoning one mid-way leaves nothing inconsistent but its output.
 * The handler is installed without SA_RESTART: KVM_RUN must return EINTR.
 *
 * Per-thread timers: created on a thread's first use, deleted by a pthread
 * key destructor when the thread exits (POSIX timers are per process; one
 * left behind would count against RLIMIT_SIGPENDING forever).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vmm/vmm_internal.h"
#include "vmm/inproc.h"

static __thread struct kvm_run *tl_run;
static __thread sigjmp_buf *volatile tl_unwind;
static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

static int sig_number(void) { return SIGRTMAX - 3; }

static void on_sig(int sig)
{
    (void)sig;
    sigjmp_buf *j = tl_unwind;
    if (j) {
        tl_unwind = NULL;
        siglongjmp(*j, 1);
    }
    struct kvm_run *r = tl_run;
    if (r)
        r->immediate_exit = 1;
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig; /* no SA_RESTART: KVM_RUN must return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(sig_number(), &sa, NULL);
}

int eh_sig(void)
{
    pthread_once(&sig_once, install);
    return sig_number();
}

void eh_sig_bind_run(struct kvm_run *run) { tl_run = run; }

void eh_sig_bind_unwind(sigjmp_buf *j) { tl_unwind = j; }

void eh_timer_set(timer_t *t, uint64_t first_ns, uint64_t every_ns)
{
    struct itimerspec its;
    its.it_value.tv_sec = (time_t)(first_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(first_ns % 1000000000ull);
    its.it_interval.tv_sec = (time_t)(every_ns / 1000000000ull);
    its.it_interval.tv_nsec = (long)(every_ns % 1000000000ull);
    timer_settime(*t, 0, &its, NULL);
}

static pthread_key_t timer_key;
static pthread_once_t timer_key_once = PTHREAD_ONCE_INIT;
static int timer_key_ok;
static __thread timer_t *tl_timer;

static void timer_free(void *p)
{
    timer_delete(*(timer_t *)p);
    free(p);
}

static void timer_key_init(void) { timer_key_ok = pthread_key_create(&timer_key, timer_free) == 0; }

timer_t *eh_thread_timer(void)
{
    if (tl_timer)
        return tl_timer;
    pthread_once(&timer_key_once, timer_key_init);
    if (!timer_key_ok)
        return NULL;
    timer_t *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = eh_sig();
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, t)) {
        free(t);
        return NULL;
    }
    if (pthread_setspecific(timer_key, t)) {
        timer_free(t);
        return NULL;
    }
    return tl_timer = t;
}
