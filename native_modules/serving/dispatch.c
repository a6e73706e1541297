/*
 * Handler threads: tenant code runs here, never on the loop thread.
 *
 * Scheduling: each tenant version (eh_svc) has a FIFO of jobs; a version
 * with queued jobs and fewer than max_running jobs running sits in the
 * ready list of one lane, served round-robin. So a tenant whose handlers
 * loop or block holds at most max_running threads; the others keep being
 * served.
 *
 * Three lanes, each with its own threads, whose priority each thread sets
 * once when it starts (lowering one's own needs no privilege):
 *  - fast: every version until its calls say otherwise;
 *  - slow, nice SLOW_LANE_NICE: a heavy version -- most of its calls use
 *    over SLOW_CPU_NS of CPU, or their mean is over HEAVY_CPU_NS (moving
 *    over 16 sampled calls): csv-ingest, ~0.25 ms a call, is one;
 *  - idle, SCHED_IDLE: a hog -- for SLOW_HOLD_NS after a second call within
 *    SLOW_HOLD_NS used more than HOG_CPU_NS (one such call is not enough:
 *    hello-c, ~10 us of CPU a call, was once charged 2.5 ms -- softirq or
 *    reclaim work that landed on its thread -- and spent a second demoted
 *    under load) whose sampled mean is heavy too (so such a misjudged
 *    tenant waits at nice 10, not for an idle CPU; a tenant spinning to
 *    its deadline gets there from its sixth CPU-timed call, on the slow
 *    lane until then) -- or a version most of whose calls fail by its own
 *    doing (tenant_failed: a trap storm's ~60 us calls are not slow, but
 *    nothing comes of them).
 * So a tenant that spins to its deadline, grows memory to its cap or traps
 * on every request takes CPU from the other tenants only where they leave
 * some: a SCHED_IDLE thread is preempted as soon as a normal one wakes.
 * At nice 10 the scheduler lets a running thread finish its slice first:
 * beside a tenant spinning to its deadline or a kernel run to its guest's
 * limit, hello-c's p99 was 1.1-1.2 ms with the hogs at nice 10, 0.3-0.4 ms
 * with them under SCHED_IDLE (bench serve-abuse, Ice Lake, same hour). A
 * heavy tenant that does useful work must not be starved that way:
 * csv-ingest beside hello-c under wrk (one worker on one CPU) answered in
 * 2.3 ms p50 / 5 ms p99 at nice 10, 7.5 / 103 ms under SCHED_IDLE -- hence
 * the two lower lanes. The price of the idle lane: a hog gets next to no
 * CPU while the others use it all, and a KVM guest booted again on an
 * idle-lane thread (after a fault or a time-out) keeps that policy for
 * its vCPU thread.
 *
 * CPU time, not wall time, decides: a fast call preempted on a busy core
 * takes long without being slow, and demoting it would make it slower
 * still. Reading a thread's CPU clock is a system call (~0.6 us here), so
 * fast-lane calls are timed by the CPU clock only at random, one in
 * SAMPLE_EVERY (so slow calls hidden between fast ones are still seen), and
 * after a call whose wall time passed SLOW_CPU_NS, the next SUSPECT_CALLS
 * calls of its version (so a tenant whose calls turn slow is demoted within
 * a few calls). Slow-lane calls are always CPU-timed, so a version whose
 * calls turn fast again returns to the fast lane.
 *
 * Inline: the loop thread runs a call itself, with no hand-off, when the
 * version has proven fast: a streak of INLINE_AFTER calls on the threads
 * (times 2^inline_strikes) that succeeded, made no kernel call and took
 * under INLINE_FAST_NS of wall time (count_streak), and none of its jobs is
 * queued or running. The hand-off
 * (a futex wake, two context switches, the eventfd and MHD's
 * suspend/resume) costs more than such a call: 7-8 us of the ~21 us a
 * hello-c request took on the Zen 3 here. An inline call still running
 * INLINE_BUDGET_NS after it started is stopped at the next epoch tick if it
 * has had no effect outside its instance yet (no kv write, no log line):
 * nothing of it is visible, so the job goes to the threads as usual and the
 * version must show twice the streak before it runs inline again. A call
 * past an effect cannot be stopped and runs to its end; if it used
 * INLINE_BUDGET_NS more CPU after the budget, or made a kernel call (which
 * blocks), the version never runs inline again in this worker. Any other
 * inline call that fails or takes longer than the budget (wall time: the
 * OS may have preempted the loop thread in it) sends the version back to
 * the threads to show its streak again. So the loop
 * is held up by a tenant's call for at most the budget plus one tick, except
 * once per version and worker for a call that turns long after a kv write
 * or a log line (bounded by its deadline_ms). `serve --no-inline` keeps
 * every call on the threads.
 *
 * Hand-off cost: the loop wakes a thread only when one sleeps (once per
 * round of requests, eh_disp_flush), and results go back in batches: a
 * thread publishes what it finished when it runs out of work, has 16
 * results, or is about to start a job of a version whose calls average
 * over PUBLISH_BEFORE_NS of wall time -- so a fast answer
 * never waits behind a slow call, and the loop is woken (one eventfd
 * write) only when its result list was empty.
 */
#define _GNU_SOURCE /* SCHED_IDLE, pthread_setname_np */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "serving/server.h"
#include "wasmhost/ffi.h"

#define BATCH_MAX 16
#define PUBLISH_BEFORE_NS 20000ull     /* results go out before a job this long (wall)  */
#define SLOW_CPU_NS 100000ull          /* most calls of a version over this: slow       */
#define HEAVY_CPU_NS 250000ull         /* ... or its mean CPU per call over this        */
#define HOG_CPU_NS 1000000ull          /* two calls using this much CPU ...            */
#define SLOW_HOLD_NS 1000000000ull     /* ... this close make it slow for this long    */
#define SUSPECT_CALLS 4                /* CPU-timed fast-lane calls after a long one   */
#define SAMPLE_EVERY 16                /* ... and one fast-lane call in this many      */
#define SHARE_ONE 65536u               /* slow_share's fixed-point 1                    */
#define SLOW_LANE_NICE 10              /* the slow lane; the idle lane where SCHED_IDLE */
                                       /* is refused (a seccomp filter)                 */
#define INLINE_AFTER 32u               /* fast threaded calls in a row before inline    */
#define INLINE_STRIKES_MAX 15          /* ... doubled per preempted inline call, to 2^20 */
#define INLINE_FAST_NS 50000ull        /* a threaded call this fast (wall) counts        */
#define INLINE_BUDGET_NS 1000000ull    /* an inline call past this is preempted          */

typedef struct eh_lane {
    struct eh_disp *d;
    pthread_cond_t cond;
    eh_svc *ready_head, *ready_tail;
    uint32_t nthreads, idle;
    pthread_t *threads;
    int which;         /* EH_LANE_*: its threads' priority (thread_main) */
} eh_lane;

struct eh_disp {
    eh_srv *srv;
    pthread_mutex_t lock;      /* guards everything below and the eh_svc queues */
    eh_lane lane[EH_LANES];
    int stop, wake_pending;
    int inline_on;             /* the loop thread may run proven-fast calls      */
    uint64_t queued;
    eh_job *done;              /* results for the loop thread (LIFO)            */
    int efd;
};

/* The lane version v's jobs queue on now (see the top). With d->lock held. */
static int lane_of(const eh_svc *v, uint64_t now)
{
    int hog = v->hog_at_ns && now - v->hog_at_ns < SLOW_HOLD_NS;
    int heavy = v->cpu_avg_ns > HEAVY_CPU_NS;
    if (v->fail_share > SHARE_ONE / 2 || (hog && heavy))
        return EH_LANE_IDLE;
    if (hog || heavy || v->slow_share > SHARE_ONE / 2)
        return EH_LANE_SLOW;
    return EH_LANE_FAST;
}

static void make_ready(eh_disp *d, eh_svc *v, uint64_t now)
{
    if (v->in_ready || !v->q_head || v->running >= v->max_running)
        return;
    eh_lane *l = &d->lane[lane_of(v, now)];
    v->in_ready = 1;
    v->ready_next = NULL;
    if (l->ready_tail)
        l->ready_tail->ready_next = v;
    else
        l->ready_head = v;
    l->ready_tail = v;
}

void eh_disp_submit(eh_disp *d, eh_job *j)
{
    eh_svc *v = j->svc;
    uint64_t now = eh_srv_now();
    j->next = NULL;
    pthread_mutex_lock(&d->lock);
    if (v->q_tail)
        v->q_tail->next = j;
    else
        v->q_head = j;
    v->q_tail = j;
    v->queued++;
    d->queued++;
    make_ready(d, v, now);
    pthread_mutex_unlock(&d->lock);
    d->wake_pending = 1;
}

void eh_disp_flush(eh_disp *d)
{
    if (!d->wake_pending)
        return;
    d->wake_pending = 0;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < EH_LANES; i++)
        if (d->lane[i].idle && d->lane[i].ready_head)
            pthread_cond_signal(&d->lane[i].cond);
    pthread_mutex_unlock(&d->lock);
}

eh_job *eh_disp_take_done(eh_disp *d)
{
    uint64_t v;
    if (read(d->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        return NULL;
    pthread_mutex_lock(&d->lock);
    eh_job *j = d->done;
    d->done = NULL;
    pthread_mutex_unlock(&d->lock);
    return j;
}

int eh_disp_fd(eh_disp *d) { return d->efd; }
uint64_t eh_disp_queued(eh_disp *d) { return __atomic_load_n(&d->queued, __ATOMIC_RELAXED); }

/* A version's snapshot form (the same module) takes over what says how
 * its calls behave rather than what they cost: the share of calls the
 * tenant failed, so a trap storm on the slow lane stays there across the
 * swap (a clean share needs 11 failures in a row to demote it again), and
 * the loop thread's verdicts -- a bar, and the preempted inline calls that
 * each double the streak it must show again -- since a module that ran
 * long after an effect does so as its snapshot form too. These only
 * restrict the form; its streak starts from 0. Not the CPU-time record:
 * the swap comes a moment after the version starts, while the snapshot is
 * built beside its first calls, whose CPU clocks are charged for that
 * (hello-c, inheriting it, was once held on the slow lane for the hog
 * rule's second: 36 of its first 50 calls); a tenant that burns CPU is
 * demoted again within two calls anyway. Called before `to` is routed: no
 * call of it runs yet, and the lock orders the copy after from's finished
 * calls. */
void eh_disp_inherit(eh_disp *d, eh_svc *to, const eh_svc *from)
{
    pthread_mutex_lock(&d->lock);
    to->fail_share = from->fail_share;
    to->inline_barred = from->inline_barred;
    to->inline_strikes = from->inline_strikes;
    pthread_mutex_unlock(&d->lock);
}

/* Called with d->lock held; drops it around the eventfd write. */
static void publish(eh_disp *d, eh_job **local, eh_job **local_tail, uint32_t *n)
{
    if (!*local)
        return;
    int was_empty = d->done == NULL;
    (*local_tail)->next = d->done;
    d->done = *local;
    *local = *local_tail = NULL;
    *n = 0;
    if (was_empty) {
        pthread_mutex_unlock(&d->lock);
        uint64_t one = 1;
        ssize_t w = write(d->efd, &one, sizeof one);
        (void)w; /* EAGAIN only when the counter is already non-zero: woken anyway */
        pthread_mutex_lock(&d->lock);
    }
}

static int run_job(eh_job *j, uint64_t preempt_at_ns, uint64_t *cpu_ns);

/* Did the tenant's own code fail the call (a trap, its deadline or memory
 * cap, a kernel fault, a non-zero status)? The host's refusals (no
 * instance slot, its share, the kv store) are not the tenant's doing. */
static int tenant_failed(const eh_job *j)
{
    switch (j->cause) {
    case EH_CAUSE_TRAP: case EH_CAUSE_DEADLINE: case EH_CAUSE_MEMORY: case EH_CAUSE_FUEL:
    case EH_CAUSE_GUEST_FAULT: case EH_CAUSE_GUEST_TIMEOUT: case EH_CAUSE_TENANT_STATUS:
        return 1;
    default:
        return 0;
    }
}

/* Called with d->lock held, after a call of v on a handler thread. A
 * failure or a kernel call ends the streak; a call over INLINE_FAST_NS of
 * wall time takes 8 off it (a busy core delays some fast calls: a version
 * with more than one slow call in 9 never gets there). */
static void count_streak(eh_svc *v, const eh_job *j, uint64_t took)
{
    if (j->cause >= 0 || j->offload_calls)
        v->fast_streak = 0;
    else if (took >= INLINE_FAST_NS)
        v->fast_streak = v->fast_streak > 8 ? v->fast_streak - 8 : 0;
    else if (v->fast_streak < INLINE_AFTER << INLINE_STRIKES_MAX)
        v->fast_streak++;
}

int eh_disp_run_inline(eh_disp *d, eh_job *j)
{
    eh_svc *v = j->svc;
    if (!d->inline_on)
        return 0;
    uint64_t t0 = eh_srv_now();
    pthread_mutex_lock(&d->lock);
    int ok = !v->inline_barred && v->fast_streak >= INLINE_AFTER << v->inline_strikes &&
             !v->q_head && !v->running && lane_of(v, t0) == EH_LANE_FAST;
    if (ok)
        v->running++;
    pthread_mutex_unlock(&d->lock);
    if (!ok)
        return 0;
    int preempted = run_job(j, t0 + INLINE_BUDGET_NS, NULL);
    uint64_t t1 = eh_srv_now(), took = t1 - t0;
    pthread_mutex_lock(&d->lock);
    v->running--;
    v->avg_ns = v->avg_ns ? (v->avg_ns * 7 + took) / 8 : took;
    if (preempted) {
        v->fast_streak = 0;
        if (v->inline_strikes < INLINE_STRIKES_MAX)
            v->inline_strikes++;
    } else if (j->offload_calls || j->overran_cpu_ns >= INLINE_BUDGET_NS) {
        v->inline_barred = 1;
    } else if (j->cause >= 0 || took > INLINE_BUDGET_NS) {
        /* A failure, or a call past the budget (a long one the tick missed,
         * or one preempted by the OS: its CPU time is not known): back to
         * the threads until the version shows its streak again. */
        v->fast_streak = 0;
    }
    pthread_mutex_unlock(&d->lock);
    if (preempted) {
        j->preempted = 1;
        return 0;
    }
    j->inlined = 1;
    return 1;
}

static void *thread_main(void *arg)
{
    eh_lane *l = arg;
    eh_disp *d = l->d;
    eh_job *local = NULL, *local_tail = NULL;
    uint32_t nlocal = 0;
    uint32_t rng = (uint32_t)(uintptr_t)&local | 1; /* xorshift32: the CPU-timed samples */
    /* Lowering one's own priority needs no privilege; where it is refused
     * (a seccomp filter), the lanes still separate the tenants' queues. */
    struct sched_param none = {0};
    if (l->which == EH_LANE_SLOW ||
        (l->which == EH_LANE_IDLE && sched_setscheduler(0, SCHED_IDLE, &none) != 0))
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SLOW_LANE_NICE);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        if (!l->ready_head)
            publish(d, &local, &local_tail, &nlocal);
        while (!l->ready_head && !d->stop) {
            l->idle++;
            pthread_cond_wait(&l->cond, &d->lock);
            l->idle--;
        }
        if (!l->ready_head && d->stop)
            break;
        eh_svc *v = l->ready_head;
        l->ready_head = v->ready_next;
        if (!l->ready_head)
            l->ready_tail = NULL;
        v->in_ready = 0;
        eh_job *j = v->q_head;
        v->q_head = j->next;
        if (!v->q_head)
            v->q_tail = NULL;
        v->queued--;
        d->queued--;
        v->running++;
        uint64_t t0 = eh_srv_now();
        make_ready(d, v, t0);
        for (int i = 0; i < EH_LANES; i++) /* more work than this thread: wake another */
            if (d->lane[i].ready_head && d->lane[i].idle)
                pthread_cond_signal(&d->lane[i].cond);
        if (nlocal >= BATCH_MAX || (nlocal && v->avg_ns > PUBLISH_BEFORE_NS))
            publish(d, &local, &local_tail, &nlocal);
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        int cpu_timed = l->which != EH_LANE_FAST || v->suspect_left || rng % SAMPLE_EVERY == 0;
        if (v->suspect_left)
            v->suspect_left--;
        pthread_mutex_unlock(&d->lock);

        j->lane = l->which;
        uint64_t cpu = 0;
        run_job(j, 0, cpu_timed ? &cpu : NULL);
        uint64_t t1 = eh_srv_now(), took = t1 - t0;

        pthread_mutex_lock(&d->lock);
        v->avg_ns = v->avg_ns ? (v->avg_ns * 7 + took) / 8 : took;
        count_streak(v, j, took);
        v->fail_share = (v->fail_share * 15 + (tenant_failed(j) ? SHARE_ONE : 0)) / 16;
        if (cpu_timed) {
            /* Moving over 16 samples, from 0: the share of calls over
             * SLOW_CPU_NS, and the mean with each sample capped at
             * HOG_CPU_NS (a hog is held slow by hog_at_ns). A well-behaved
             * tenant's long calls must not demote it: requests queued on a
             * lower lane wait at nice 10 or for an idle CPU. hello-c here:
             * 7.6 us median and 11 us mean with one worker, but with two
             * workers and wrk on 2 CPUs its sampled mean nears 40 us (the
             * CPU clock also charges the softirq work that lands on the
             * thread) and 1.7-12 % of its requests went to the slow lane
             * when that mean decided. The trap storm (~60 us every call)
             * stays fast. */
            uint64_t c = cpu < HOG_CPU_NS ? cpu : HOG_CPU_NS;
            v->cpu_avg_ns = (v->cpu_avg_ns * 15 + c) / 16;
            v->slow_share = (v->slow_share * 15 + (cpu > SLOW_CPU_NS ? SHARE_ONE : 0)) / 16;
            if (cpu > HOG_CPU_NS) {
                if (v->hog_seen_ns && t1 - v->hog_seen_ns < SLOW_HOLD_NS)
                    v->hog_at_ns = t1;
                v->hog_seen_ns = t1;
            }
        } else if (took > SLOW_CPU_NS) {
            v->suspect_left = SUSPECT_CALLS;
        }
        v->running--;
        make_ready(d, v, t1);
        j->next = NULL;
        if (local_tail)
            local_tail->next = j;
        else
            local = j;
        local_tail = j;
        nlocal++;
    }
    publish(d, &local, &local_tail, &nlocal);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Thread names by lane (what top -H and the tests show). */
static const char *const lane_name[EH_LANES] = {"fast", "slow", "idle"};

static int start_lane(eh_disp *d, eh_lane *l, uint32_t threads, int which, char *err,
                      size_t errlen)
{
    l->d = d;
    l->which = which;
    pthread_cond_init(&l->cond, NULL);
    if (!(l->threads = calloc(threads, sizeof *l->threads))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < threads; i++) {
        if (pthread_create(&l->threads[i], NULL, thread_main, l) != 0) {
            snprintf(err, errlen, "cannot start handler thread %u", i);
            return -1;
        }
        l->nthreads = i + 1;
        char name[16]; /* the kernel's limit, NUL included */
        snprintf(name, sizeof name, "eh-%s-%u", lane_name[which], i);
        pthread_setname_np(l->threads[i], name);
    }
    return 0;
}

eh_disp *eh_disp_new(eh_srv *s, uint32_t threads, int inline_on, char *err, size_t errlen)
{
    eh_disp *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->srv = s;
    d->inline_on = inline_on;
    pthread_mutex_init(&d->lock, NULL);
    d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->efd < 0) {
        snprintf(err, errlen, "cannot set up the handler threads: %s", strerror(errno));
        eh_disp_free(d);
        return NULL;
    }
    /* Each lane gets `threads` threads: a demoted tenant keeps the
     * concurrency it had (its max_running), at a lower priority. */
    for (int i = 0; i < EH_LANES; i++)
        if (start_lane(d, &d->lane[i], threads, i, err, errlen) < 0) {
            eh_disp_free(d);
            return NULL;
        }
    return d;
}

void eh_disp_free(eh_disp *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = 1;
    for (int i = 0; i < EH_LANES; i++)
        if (d->lane[i].d)
            pthread_cond_broadcast(&d->lane[i].cond);
    pthread_mutex_unlock(&d->lock);
    for (int i = 0; i < EH_LANES; i++) {
        eh_lane *l = &d->lane[i];
        for (uint32_t k = 0; k < l->nthreads; k++)
            pthread_join(l->threads[k], NULL);
        if (l->d)
            pthread_cond_destroy(&l->cond);
        free(l->threads);
    }
    if (d->efd >= 0)
        close(d->efd);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* ---- one handler call ---------------------------------------------------- */

static int cause_of(const eh_job *j, eh_instance *inst, int kind)
{
    if (inst->offload_fail == EH_OFFLOAD_FAULT)
        return EH_CAUSE_GUEST_FAULT;
    if (inst->offload_fail == EH_OFFLOAD_TIMEOUT)
        return EH_CAUSE_GUEST_TIMEOUT;
    switch (kind) {
    case EH_TRAP_DEADLINE:
        return EH_CAUSE_DEADLINE;
    case EH_TRAP_FUEL:
        return EH_CAUSE_FUEL;
    case EH_TRAP_MEMORY:
        return EH_CAUSE_MEMORY;
    case EH_TRAP_STORE:
        return EH_CAUSE_STORE;
    default: {
        /* A trap with linear memory within 1/8 of its cap: the tenant ran
         * out of memory (memory.grow was refused and it gave up). */
        uint64_t size = 0;
        eh_instance_memory(inst, &size);
        if (j->svc->mem_cap && size >= j->svc->mem_cap - j->svc->mem_cap / 8)
            return EH_CAUSE_MEMORY;
        return EH_CAUSE_TRAP;
    }
    }
}

static const int cause_status[EH_CAUSE_COUNT] = {
    [EH_CAUSE_NOT_FOUND] = 404, [EH_CAUSE_BODY_TOO_LARGE] = 413, [EH_CAUSE_OVERLOAD] = 503,
    [EH_CAUSE_INSTANTIATE] = 503, [EH_CAUSE_TRAP] = 500, [EH_CAUSE_DEADLINE] = 504,
    [EH_CAUSE_MEMORY] = 500, [EH_CAUSE_FUEL] = 500, [EH_CAUSE_GUEST_FAULT] = 502,
    [EH_CAUSE_GUEST_TIMEOUT] = 504, [EH_CAUSE_TENANT_STATUS] = 500,
    [EH_CAUSE_REQUEST_TIMEOUT] = 408, [EH_CAUSE_CLIENT_ABORT] = 499, [EH_CAUSE_INTERNAL] = 500,
    [EH_CAUSE_STORE] = 503, [EH_CAUSE_SHARE] = 503, [EH_CAUSE_SLOTS] = 503,
    [EH_CAUSE_HEADERS_TOO_LARGE] = 431,
};

static const char *const cause_reason[EH_CAUSE_COUNT] = {
    [EH_CAUSE_INSTANTIATE] = "tenant unavailable (instantiation failed)",
    [EH_CAUSE_TRAP] = "tenant trapped", [EH_CAUSE_DEADLINE] = "tenant deadline exceeded",
    [EH_CAUSE_MEMORY] = "tenant memory limit reached", [EH_CAUSE_FUEL] = "tenant fuel exhausted",
    [EH_CAUSE_GUEST_FAULT] = "tenant kernel guest faulted",
    [EH_CAUSE_GUEST_TIMEOUT] = "tenant kernel exceeded its time limit",
    [EH_CAUSE_TENANT_STATUS] = "tenant handler failed", [EH_CAUSE_INTERNAL] = "internal error",
    [EH_CAUSE_STORE] = "kv store unavailable",
    [EH_CAUSE_SHARE] = "tenant at its instance limit",
    [EH_CAUSE_SLOTS] = "no instance slot free",
};

static void fail(eh_job *j, int cause, const char *detail)
{
    j->cause = cause;
    j->status = cause_status[cause];
    j->resp = eh_error_response(j, j->status, cause_reason[cause]);
    eh_log_error(j->srv, j, j->svc->name, cause, j->status, detail);
}

/* Runs j's handler and fills in its response. preempt_at_ns: see
 * eh_instance.preempt_at_ns; returns 1 when the call was preempted, and
 * then j is as it was (nothing was answered, counted or logged). cpu_ns
 * (if not NULL): the thread's CPU time in the handler call, without making
 * its instance (the pool grows after a reload, an eviction or a preempted
 * call; that is the host's work, not a sign of a slow tenant). */
static int run_job(eh_job *j, uint64_t preempt_at_ns, uint64_t *cpu_ns)
{
    eh_svc *v = j->svc;
    char err[256];
    int why;
    eh_instance *inst = eh_pool_acquire(v->pool, &why, err, sizeof err);
    if (!inst) {
        fail(j, why == EH_TRAP_INSTANCES ? EH_CAUSE_SHARE
                : why == EH_TRAP_SLOTS   ? EH_CAUSE_SLOTS
                                         : EH_CAUSE_INSTANTIATE, err);
        return 0;
    }
    uint64_t h0 = inst->hostcalls, o0 = inst->offload_calls, ns0 = inst->offload_ns;
    inst->offload_fail = 0;
    inst->preempt_at_ns = preempt_at_ns;
    eh_request req = {
        j->method, j->method_len,
        j->uri + j->path_off, j->path_len,
        j->uri + j->query_off, j->query_len,
        j->hdrs, j->hdrs_len,
        j->body, (uint32_t)j->body_len,
    };
    int32_t rc = 0;
    uint64_t c0 = cpu_ns ? eh_thread_cpu_ns() : 0;
    int failed = eh_instance_handle(inst, (int)j->handler, &req, &rc) < 0;
    if (cpu_ns)
        *cpu_ns = eh_thread_cpu_ns() - c0;
    inst->preempt_at_ns = 0;
    if (failed && inst->preempted) {
        eh_pool_release(v->pool, inst, 1); /* stopped mid-call: its state is not sound */
        return 1;
    }
    j->overran_cpu_ns = inst->overran ? eh_thread_cpu_ns() - inst->overran_cpu_ns : 0;
    j->hostcalls = inst->hostcalls - h0;
    j->offload_calls = inst->offload_calls - o0;
    j->offload_ns = inst->offload_ns - ns0;
    if (failed) {
        int kind;
        const char *msg = eh_instance_error(inst, &kind);
        fail(j, cause_of(j, inst, kind), msg);
        eh_pool_release(v->pool, inst, kind != EH_TRAP_STORE); /* a store failure leaves it sound */
        return 0;
    }
    if (rc != 0) {
        char detail[sizeof inst->error + 64];
        int cause = inst->offload_fail == EH_OFFLOAD_FAULT     ? EH_CAUSE_GUEST_FAULT
                    : inst->offload_fail == EH_OFFLOAD_TIMEOUT ? EH_CAUSE_GUEST_TIMEOUT
                                                               : EH_CAUSE_TENANT_STATUS;
        if (inst->offload_fail) /* what the guest did, as the monitor reported it */
            snprintf(detail, sizeof detail, "handler returned %d after a kernel call failed: %s",
                     rc, inst->error);
        else
            snprintf(detail, sizeof detail, "handler returned %d", rc);
        fail(j, cause, detail);
        eh_pool_release(v->pool, inst, 0);
        return 0;
    }
    int32_t status;
    uint32_t blen, hlen;
    const char *hdrs;
    const uint8_t *body = eh_instance_response(inst, &status, &blen, &hdrs, &hlen);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        blen, (void *)(body ? (const void *)body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r) {
        fail(j, EH_CAUSE_INTERNAL, "cannot allocate the response");
        eh_pool_release(v->pool, inst, 0);
        return 0;
    }
    /* "name\0value\0" pairs, validated by response_set_header (no CR/LF/NUL). */
    for (uint32_t at = 0; at < hlen;) {
        const char *name = hdrs + at;
        const char *val = name + strlen(name) + 1;
        at = (uint32_t)(val + strlen(val) + 1 - hdrs);
        MHD_add_response_header(r, name, val); /* MHD refuses only framing headers */
    }
    eh_pool_release(v->pool, inst, 0);
    j->resp = r;
    j->resp_bytes = blen;
    j->status = status;
    j->cause = -1;
    return 0;
}
