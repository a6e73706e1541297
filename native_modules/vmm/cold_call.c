/*
 * Cold calls on the caller's own thread.
 *
 * A parked guest used to be served by waking its vCPU thread. On this host
 * (nested through PVM, no idle polling) a cross-CPU futex wake costs ~7 us of
 * IPI in the waker and ~15 us more until the woken thread runs: most of an
 * exit round trip again. KVM_RUN from another thread no longer costs a
 * synchronize_rcu (Linux >= 6.12; older kernels keep waking the vCPU thread,
 * as does EH_VM_F_COLD_ON_VCPU_THREAD), so the caller enters the guest
 * itself: the guest serves the call and exits at once (host_waiting is set),
 * one entry and one exit in all.
 *
 * Which path is faster depends on the machine, and the monitor measures it
 * (eh_cold_pick_caller, below): under PVM on the Zen 3 a caller's run took
 * 54 us and a wake 76 us, on the Ice Lake Xeon 39 us and 21 us (`bench
 * offload`'s cold rows, the same day's code). A wake leaves the woken thread
 * in the idle window after the call (the warm regime), as any warm call does.
 *
 * Invariants:
 *  - Only a caller holding vm->lock runs the vCPU here, and only while the
 *    vCPU thread is parked; g->caller_run keeps that thread from entering too.
 *  - The guest is left stopped at its "call done" exit, not reset:
 *    reset_pending is set and the parked vCPU thread, signalled after the
 *    idle window, resets it under vm->lock. A call that comes first settles
 *    it (vm.c): with idle_spin_us == 0 it resets the guest itself, so every
 *    call still starts from the snapshot; otherwise it wakes the vCPU thread
 *    into the warm regime (the runtime scrubs, then serves the call).
 *  - Limits (call.c): the thread's timer (thread_signal.c), armed for the run
 *    only (~0.7 us for arm + disarm), ticks every EH_LIMIT_CHECK_NS (first
 *    at the caller's deadline or the CPU limit if sooner); its signal's
 *    handler sets immediate_exit and KVM_RUN returns EINTR. Past the caller's
 *    deadline, or past the CPU limit in this thread's CPU time (the guest ran
 *    on it), the call is abandoned and the guest freed (the next call boots a
 *    fresh one: a reset in place after a stop here is not sound under PVM,
 *    see eh_cold_call). A
 *    guest that answered but did not exit is stopped at a tick and counted
 *    as a forced park (the watchdog's job on the vCPU thread). The timer is
 *    disarmed when the run ends; a tick already in flight at most leaves
 *    immediate_exit set, which the next caller's run clears and the vCPU
 *    thread takes for a spurious stop (no call of its own is in flight).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "vmm/vmm_internal.h"

static int caller_runs_ok;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

/* Before Linux 6.12, KVM_RUN from a new thread ran synchronize_rcu (ms). */
static void check_kernel(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2)
        caller_runs_ok = major > 6 || (major == 6 && minor >= 12);
}

int eh_cold_on_caller_ok(void)
{
    pthread_once(&kernel_once, check_kernel);
    return caller_runs_ok;
}

int eh_vm_cold_on_caller(void) { return eh_cold_on_caller_ok(); }

/* ---- the faster cold path, measured per process -------------------------
 * Samples: cold calls whose inputs total at most EH_COLD_SAMPLE_MAX bytes
 * (their kernel's time is small beside an entry), from the doorbell to the
 * result, into one moving average per path (weight 1/8; a sample over 4x
 * the average, a preempted call, counts as 4x). The first call of a handle
 * on a path after the other one is not a sample (call.c): it also pays for
 * moving the vCPU between threads (on the Ice Lake Xeon a caller's run
 * right after a wake took 70-110 us against 40 in a row), which a path
 * taken steadily does not. Sampled calls take the caller's run until it has
 * EH_VM_COLD_FIRST samples, then the wake until it has as many, then the
 * faster one, except EH_COLD_PROBE_RUN calls in every EH_COLD_PROBE_EVERY
 * that take the other, so that a change (other load on the machine, a busy
 * core for the woken thread) is seen -- in every EH_COLD_PROBE_EVERY_FAR
 * where the other is over twice as slow (a wake of 150-800 us against a
 * caller's run of 41 on the Ice Lake Xeon in a slow hour: there each probe
 * is dear, and only a large change turns the choice). Calls not sampled take
 * the faster path, or the caller's run while either is unmeasured. Relaxed
 * atomics: a lost update only loses a sample. */
#define EH_COLD_PROBE_EVERY 64u
#define EH_COLD_PROBE_EVERY_FAR 512u
#define EH_COLD_PROBE_RUN 3u
static _Atomic uint64_t cold_avg_ns[2]; /* [0] caller's run, [1] wake */
static _Atomic uint64_t cold_samples[2];
static _Atomic uint32_t cold_sampled_picks;

int eh_cold_pick_caller(int sampled)
{
    uint64_t n0 = atomic_load_explicit(&cold_samples[0], memory_order_relaxed);
    uint64_t n1 = atomic_load_explicit(&cold_samples[1], memory_order_relaxed);
    if (n0 < EH_VM_COLD_FIRST || n1 < EH_VM_COLD_FIRST)
        return !sampled || n0 < EH_VM_COLD_FIRST;
    uint64_t a0 = atomic_load_explicit(&cold_avg_ns[0], memory_order_relaxed);
    uint64_t a1 = atomic_load_explicit(&cold_avg_ns[1], memory_order_relaxed);
    int caller = a0 <= a1;
    uint64_t fast = caller ? a0 : a1, slow = caller ? a1 : a0;
    uint32_t every = slow > 2 * fast ? EH_COLD_PROBE_EVERY_FAR : EH_COLD_PROBE_EVERY;
    if (sampled &&
        atomic_fetch_add_explicit(&cold_sampled_picks, 1, memory_order_relaxed) % every >=
            every - EH_COLD_PROBE_RUN)
        caller = !caller;
    return caller;
}

void eh_cold_note(int caller, uint64_t ns)
{
    int i = caller ? 0 : 1;
    uint64_t avg = atomic_load_explicit(&cold_avg_ns[i], memory_order_relaxed);
    if (avg && ns > 4 * avg)
        ns = 4 * avg;
    avg = avg ? avg - avg / 8 + ns / 8 : ns;
    atomic_store_explicit(&cold_avg_ns[i], avg ? avg : 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&cold_samples[i], 1, memory_order_relaxed);
}

void eh_vm_cold_paths(uint64_t avg_ns[2], uint64_t samples[2])
{
    for (int i = 0; i < 2; i++) {
        avg_ns[i] = atomic_load_explicit(&cold_avg_ns[i], memory_order_relaxed);
        samples[i] = atomic_load_explicit(&cold_samples[i], memory_order_relaxed);
    }
}

void eh_vm_cold_paths_set(const uint64_t avg_ns[2], const uint64_t samples[2])
{
    for (int i = 0; i < 2; i++) {
        atomic_store_explicit(&cold_avg_ns[i], avg_ns[i], memory_order_relaxed);
        atomic_store_explicit(&cold_samples[i], samples[i], memory_order_relaxed);
    }
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int eh_cold_call(eh_guest *g, uint64_t seq, eh_call_limits *lim)
{
    timer_t *tm = eh_thread_timer();
    if (!tm)
        return 1;
    sigset_t sig, old;
    sigemptyset(&sig);
    sigaddset(&sig, eh_sig());
    pthread_sigmask(SIG_UNBLOCK, &sig, &old);
    eh_sig_bind_run(g->run);
    g->run->immediate_exit = 0; /* a stale stop meant for the parked thread */
    uint64_t start = eh_now_ns(), first = lim->wall > start ? lim->wall - start : 1;
    if (first > EH_LIMIT_CHECK_NS)
        first = EH_LIMIT_CHECK_NS;
    if (first > lim->cpu_ns)
        first = lim->cpu_ns ? lim->cpu_ns : 1;
    eh_timer_set(tm, first, EH_LIMIT_CHECK_NS);
    uint64_t cpu0 = thread_cpu_ns(); /* this thread runs the guest: its CPU is the guest's */
    int rc;
    for (;;) {
        int r = ioctl(g->vcpu_fd, KVM_RUN, 0);
        atomic_fetch_add(&g->exits, 1);
        if (r < 0) {
            if (errno != EINTR && errno != EAGAIN) {
                eh_run_failed(g);
                rc = EH_OFFLOAD_FAULT;
                break;
            }
            g->run->immediate_exit = 0;
            if (__atomic_load_n(&g->win->done_seq, __ATOMIC_ACQUIRE) == seq) {
                atomic_fetch_add(&g->forced_parks, 1); /* answered, never exited */
                rc = 0;
                break;
            }
        } else {
            int kind = eh_exit_classify(g);
            if (kind < 0 || kind == EH_DONE_INIT) {
                if (kind == EH_DONE_INIT)
                    eh_set_fault(g, 0, 0, "init exit after initialisation");
                rc = EH_OFFLOAD_FAULT;
                break;
            }
            if (kind == EH_DONE_PING)
                atomic_fetch_add(&g->pings, 1);
            int answered = __atomic_load_n(&g->win->done_seq, __ATOMIC_ACQUIRE) == seq;
            if (kind == EH_DONE_CALL && answered) {
                __atomic_store_n(&g->win->host_ack, seq, __ATOMIC_RELEASE);
                rc = 0;
                break;
            }
            /* answered, acknowledged and scrubbed by someone else's run: the
             * guest is idle at its doorbell, nothing of the call is left */
            if (kind == EH_DONE_IDLE && answered) {
                rc = 0;
                break;
            }
            /* log, ping, or a guest that has not answered: run on, bounded
             * by the limits */
        }
        uint64_t now = eh_now_ns(), used = thread_cpu_ns() - cpu0;
        if (now - start >= first && eh_limits_passed(lim, now, used)) {
            rc = EH_OFFLOAD_TIMEOUT;
            break;
        }
        /* a guest entered un-reset (resumed on a one-CPU handle, or handed
         * to the vCPU thread by eh_vm_prewarm, which we got ahead of) may be
         * stuck since its last call; one at its snapshot cannot be */
        if (lim->may_be_stuck && now - start >= first && used >= EH_TAKE_CPU_NS &&
            __atomic_load_n(&g->win->taken_seq, __ATOMIC_ACQUIRE) != seq) {
            rc = EH_CALL_NOT_TAKEN; /* the caller replaces the guest (call.c) */
            break;
        }
    }
    eh_timer_set(tm, 0, 0);
    eh_sig_bind_run(NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == EH_OFFLOAD_TIMEOUT) {
        /* Not reset in place: a guest stopped here by the timer and reset in
         * place faulted at its snapshot's first instruction on a later call
         * ("CPU exception with a corrupt ring-0 stack"), 4-21 times in 400
         * timed-out calls under load on this PVM host, with or without a
         * completing KVM_RUN first; never when the vCPU thread is the one
         * stopped and reset (0 in 2 x 400). Freed instead, the next call
         * boots a fresh guest (~2 ms, on a call that has already failed). */
        atomic_store(&g->replace, 1); /* the caller frees it (call.c) */
        atomic_store(&g->abort_kind, EH_ABORT_TIMEOUT);
        atomic_store(&g->aborted_seq, seq);
    }
    return rc;
}
