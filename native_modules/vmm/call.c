/*
 * The call path, and eh_vm_sink (the host API's door to a tenant's guest).
 *
 * A call (caller's thread, handle lock held; the caller's deadline counts
 * while it waits for the lock):
 *   plan where inputs go (io_plan.c: copied, or read in place through a
 *   window) -> copy them in and zero what earlier calls left -> write op and
 *   request into the window -> ring the doorbell (req_seq) -> then one of:
 *    - warm: the vCPU is spinning in the guest; the caller spins on
 *      done_seq (EH_PURE_SPIN_NS, then with sched_yield up to EH_SPIN_NS)
 *      and then sleeps on the guest's event futex with host_waiting set, so
 *      the guest exits to wake it. No VM exit, no syscall on the fast path.
 *    - cold, caller's thread: the guest is parked; the caller enters it
 *      itself (cold_call.c): one entry, one exit.
 *    - cold, vCPU thread: the parked vCPU thread is woken (where that path
 *      is measured faster, cold_call.c; older kernels;
 *      EH_VM_F_COLD_ON_VCPU_THREAD; or a guest left unreset by a caller's
 *      run that the tenant's idle window takes into the warm regime).
 *   -> when a limit passes -- the caller's deadline (wall clock), or the
 *      handle's time_limit_ms of guest CPU time (a runaway guard that a busy
 *      machine starving the guest cannot trip) -- the vCPU thread is asked to
 *      stop the call (kill_seq + signal) and resets the guest -> copy the
 *      output back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "vmm/vmm_internal.h"

#define EH_SPIN_NS 300000ull     /* caller spins this long before sleeping */
#define EH_PURE_SPIN_NS 10000ull /* then spins with sched_yield: on a busy box the
                                    vCPU thread may share the caller's core */
/* The parked vCPU thread resets a guest a caller ran itself this long after
 * the call, or after the idle window if longer (a call that comes first
 * settles it itself). Not sooner: on this host a timer that expires before
 * the next scheduler tick costs ~5 us to arm (the clock event is
 * reprogrammed through a trapping MSR write), one 5 ms out ~0.4 us. */
#define EH_DEFERRED_RESET_NS 5000000ull
/* A warm guest is reset by the host at least this often (see refresh()). */
#define EH_WARM_RESET_CALLS 1024u
#define EH_WARM_RESET_NS 50000000ull

uint64_t eh_vm_charged_cpu_ns(void) { return eh_offload_charged_cpu_ns; }

/* Outcome of waiting: 0 done, EH_OFFLOAD_TIMEOUT, EH_OFFLOAD_FAULT, 1 running. */
static int outcome(eh_guest *g, uint64_t seq)
{
    if (atomic_load(&g->aborted_seq) == seq)
        return atomic_load(&g->abort_kind) == EH_ABORT_TIMEOUT ? EH_OFFLOAD_TIMEOUT
                                                              : EH_OFFLOAD_FAULT;
    if (atomic_load(&g->state) == EH_VCPU_DEAD)
        return EH_OFFLOAD_FAULT;
    return 1;
}

static int finished(eh_guest *g, uint64_t seq)
{
    if (__atomic_load_n(&g->win->done_seq, __ATOMIC_ACQUIRE) == seq &&
        atomic_load(&g->aborted_seq) != seq) {
        __atomic_store_n(&g->win->host_ack, seq, __ATOMIC_RELEASE);
        return 0;
    }
    return outcome(g, seq);
}

/* 0 where the clock is gone (a vCPU thread that has exited). */
static uint64_t cpu_ns(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts))
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int eh_limits_passed(eh_call_limits *l, uint64_t now, uint64_t cpu_used)
{
    if (now >= l->wall)
        return l->why = l->callers ? EH_LIMIT_DEADLINE : EH_LIMIT_STUCK;
    if (cpu_used >= l->cpu_ns)
        return l->why = EH_LIMIT_CPU;
    return EH_LIMIT_NONE;
}

/* cold: we just woke the parked vCPU thread, which the scheduler likes to
 * queue on our own CPU, so yield from the first spin. The limits are checked
 * once the spin is over (a warm call never gets there): the vCPU thread's
 * CPU time from then on, plus the spin budget, against lim->cpu_ns; wall
 * time against lim->wall; and whether the guest took the call at all
 * (EH_TAKE_CPU_NS: EH_CALL_NOT_TAKEN, the vCPU left running for the caller
 * to replace the guest). The vCPU thread's CPU time past the spin, while
 * this thread sleeps, is charged to it (eh_offload_charged_cpu_ns). */
static int wait_call_on(eh_guest *g, uint64_t seq, eh_call_limits *lim, int cold, uint64_t *cpu0);

static int wait_call(eh_guest *g, uint64_t seq, eh_call_limits *lim, int cold)
{
    uint64_t cpu0 = 0;
    int rc = wait_call_on(g, seq, lim, cold, &cpu0);
    if (cpu0 && g->cpu_clock != CLOCK_MONOTONIC) {
        uint64_t now = cpu_ns(g->cpu_clock);
        eh_offload_charged_cpu_ns += now > cpu0 ? now - cpu0 : 0;
    }
    return rc;
}

/* *cpu0: the vCPU thread's CPU clock when the spin ended (0: it did not). */
static int wait_call_on(eh_guest *g, uint64_t seq, eh_call_limits *lim, int cold, uint64_t *cpu0_out)
{
    uint64_t pure_spin = cold ? 0 : EH_PURE_SPIN_NS;
    uint64_t start = eh_now_ns();
    int rc;
    for (unsigned i = 0;; i++) { /* spin: the warm path never leaves this loop early */
        if ((rc = finished(g, seq)) <= 0)
            return rc;
        __builtin_ia32_pause();
        if ((i & 63) == 63) {
            uint64_t spent = eh_now_ns() - start;
            if (spent > EH_SPIN_NS)
                break;
            if (spent > pure_spin)
                sched_yield();
        }
    }
    __atomic_store_n(&g->win->host_waiting, 1, __ATOMIC_SEQ_CST);
    /* The guest's CPU before now: at most the spin budget (more wall time
     * there means this thread was descheduled, not that the guest ran). */
    uint64_t cpu0 = cpu_ns(g->cpu_clock), before = eh_now_ns() - start;
    *cpu0_out = cpu0 ? cpu0 : 1;
    before = before < EH_SPIN_NS ? before : EH_SPIN_NS;
    int cpu_clock = g->cpu_clock != CLOCK_MONOTONIC; /* else no CPU time to judge by */
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if ((rc = finished(g, seq)) <= 0)
            return rc;
        uint64_t now = eh_now_ns(), guest_cpu = before + cpu_ns(g->cpu_clock) - cpu0;
        if (eh_limits_passed(lim, now, guest_cpu))
            break;
        if (cpu_clock && lim->may_be_stuck && guest_cpu >= EH_TAKE_CPU_NS &&
            __atomic_load_n(&g->win->taken_seq, __ATOMIC_ACQUIRE) != seq)
            return EH_CALL_NOT_TAKEN;
        uint64_t left = lim->wall - now;
        eh_futex_wait(&g->event, e, (int64_t)(left < EH_LIMIT_CHECK_NS ? left : EH_LIMIT_CHECK_NS));
    }
    /* a limit passed: the vCPU thread stops the call unless it just finished */
    atomic_store(&g->kill_seq, seq);
    eh_vcpu_kick(g);
    uint64_t give_up = eh_now_ns() + 2000000000ull;
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if ((rc = finished(g, seq)) <= 0)
            return rc;
        int64_t left = (int64_t)(give_up - eh_now_ns());
        if (left <= 0)
            return EH_OFFLOAD_SYSTEM; /* vCPU thread unresponsive: caller destroys the guest */
        eh_futex_wait(&g->event, e, left < 1000000 ? left : 1000000);
        eh_vcpu_kick(g); /* re-send: a kick may land just before a park check */
    }
}

/* The warm path trusts the guest runtime's scrub between calls; to bound how
 * long anything a subverted runtime keeps could survive, the host has the
 * vCPU thread run its authoritative reset (dirty pages + registers) every
 * EH_WARM_RESET_CALLS warm calls or EH_WARM_RESET_NS, whichever comes first.
 * refresh() asks for it after a call (signal; the vCPU thread resets at once,
 * no call being in flight); the next call waits for it before it is posted
 * (refresh_wait), so no call runs in a guest that is due -- but never past
 * that call's own deadline: a starved vCPU thread then resets at its next
 * signal with no call in flight. Nobody waits while holding a result. */
static void refresh(eh_vm *vm, eh_guest *g)
{
    uint64_t now = eh_now_ns(), resets = atomic_load(&g->resets);
    if (resets != vm->resets_seen) { /* a park, timeout or refresh reset it */
        vm->resets_seen = resets;
        vm->warm_calls_since_reset = 0;
        vm->last_reset_at_ns = now;
        return;
    }
    if (++vm->warm_calls_since_reset < EH_WARM_RESET_CALLS &&
        now - vm->last_reset_at_ns < EH_WARM_RESET_NS)
        return;
    vm->refresh_due = 1;
    atomic_store(&g->refresh_req, 1);
    eh_vcpu_kick(g);
}

/* A caller-run call on a one-CPU handle (handle.c) finds the guest stopped
 * at its previous call's done exit: it may run it from there, un-reset --
 * the runtime scrubs, then takes the call, as on the warm path -- under the
 * warm path's bound on how long that lasts (EH_WARM_RESET_CALLS calls or
 * EH_WARM_RESET_NS since the last authoritative reset); 0 when the host
 * must reset it first. */
static int resume_unreset(eh_vm *vm, eh_guest *g)
{
    uint64_t now = eh_now_ns(), resets = atomic_load(&g->resets);
    if (resets != vm->resets_seen) { /* reset since (deferred, or by a park) */
        vm->resets_seen = resets;
        vm->warm_calls_since_reset = 0;
        vm->last_reset_at_ns = now;
    }
    if (!vm->one_cpu || ++vm->warm_calls_since_reset >= EH_WARM_RESET_CALLS ||
        now - vm->last_reset_at_ns >= EH_WARM_RESET_NS)
        return 0;
    return 1;
}

static void refresh_wait(eh_vm *vm, eh_guest *g, uint64_t deadline)
{
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if (atomic_load(&g->resets) != vm->resets_seen ||
            atomic_load(&g->state) != EH_VCPU_RUNNING)
            break; /* reset (by the refresh, or by parking) */
        int64_t left = (int64_t)(deadline - eh_now_ns());
        if (left <= 0)
            return; /* still due: the vCPU thread resets at its next signal */
        eh_futex_wait(&g->event, e, left);
    }
    vm->refresh_due = 0;
    vm->resets_seen = atomic_load(&g->resets);
    vm->warm_calls_since_reset = 0;
    vm->last_reset_at_ns = eh_now_ns();
}

/* Stats of one completed call. */
static void count(eh_vm *vm, eh_guest *g, const eh_io_plan *p, int here, int warm,
                  uint64_t t0, uint64_t wake_at, uint64_t woken_at)
{
    vm->stats.calls++;
    vm->stats.warm_calls += warm;
    vm->stats.mapped_calls += (p->c_in == 0 && p->in != p->s_in) ||
                              (p->c_in2 == 0 && p->in2 != p->s_in2);
    uint64_t ran_at = atomic_load(&g->woke_at_ns);
    if (here) {
        vm->stats.caller_runs++;
        vm->stats.caller_run_ns += eh_now_ns() - t0;
    } else if (!warm && ran_at >= wake_at) { /* this call's wake, not an earlier one */
        vm->stats.cold_calls++;
        vm->stats.cold_wake_syscall_ns += woken_at - wake_at;
        vm->stats.cold_wake_ns += ran_at - wake_at;
        vm->stats.cold_enter_ns += eh_now_ns() - ran_at;
    }
}

/* idle_spin_us == 0 promises that every call starts from the snapshot. A
 * vCPU thread woken for the previous call may still be on its way out to
 * park, where it resets the guest; a call posted before that would be
 * served first, unreset (vcpu_thread.c: park). So a call waits for the park
 * (a few us: the guest exits as soon as it has answered). */
static int wait_strict_park(eh_vm *vm, eh_guest *g, uint64_t deadline)
{
    if (vm->cfg.idle_spin_us || vm->one_cpu)
        return 0;
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if (atomic_load(&g->state) != EH_VCPU_RUNNING)
            return 0;
        int64_t left = (int64_t)(deadline - eh_now_ns());
        if (left <= 0)
            return EH_OFFLOAD_TIMEOUT;
        eh_futex_wait(&g->event, e, left);
    }
}

/* Whether the calling thread runs at normal CPU priority: not SCHED_IDLE
 * (the server's idle lane) and not niced (its slow lane). Linux:
 * PRIO_PROCESS with 0 and sched_getscheduler(0) are the calling thread's. */
static int caller_priority_normal(void)
{
    if (sched_getscheduler(0) == SCHED_IDLE)
        return 0;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    return errno || nice <= 0;
}

static int call_locked(eh_vm *vm, uint32_t op, uint32_t repeat, const eh_offload_req *req,
                       eh_offload_res *res, eh_call_limits *lim, char *err, size_t errlen)
{
    int rc;
    if (!vm->g && (rc = eh_guest_boot(vm, err, errlen)))
        return rc;
    eh_guest *g = vm->g;
    if (vm->refresh_due)
        refresh_wait(vm, g, lim->wall);
    if ((rc = wait_strict_park(vm, g, lim->wall)))
        return rc;
    eh_io_plan p;
    if ((rc = eh_io_plan_make(vm, req, &p, err, errlen)))
        return rc;
    eh_call_window *w = g->win;
    /* Parked: run the call on this thread (cold_call.c) unless an earlier
     * such call left the guest unreset and the tenant has an idle window:
     * then the vCPU thread takes it on into the warm regime. A parked thread
     * stays parked while we hold vm->lock and have posted nothing. */
    int parked = atomic_load(&g->state) == EH_VCPU_PARKED;
    if (parked)
        eh_idle_found_parked(vm, g);
    int here = parked &&
               !(vm->cfg.flags & EH_VM_F_COLD_ON_VCPU_THREAD) && eh_cold_on_caller_ok();
    /* A prewarm's wake is on its way (handle.c, warm_req): the woken thread
     * serves this call (it leaves the park for a posted call, vcpu_thread.c)
     * and stays in the idle window after it. Running the call here instead
     * would leave the guest stopped with no spinning thread, so the tenant's
     * next request, prewarmed again, would race its call again: seen as 40
     * caller runs in 40 calls of 30-50 us JSON kernels on the Zen 5. We hold
     * vm->lock, under which warm_req is taken. */
    if (here && vm->cfg.idle_spin_us && atomic_exchange(&g->warm_req, 0))
        here = 0;
    if (here && atomic_exchange(&g->reset_pending, 0)) {
        if (vm->cfg.idle_spin_us)
            here = 0;
        else if (resume_unreset(vm, g))
            eh_vcpu_cancel_reset(g);
        else if (eh_vcpu_cancel_reset(g), eh_snap_reset(g, 0) < 0) {
            snprintf(g->fault, sizeof g->fault, "reset before a call failed: %s", strerror(errno));
            eh_guest_fail(vm, g, err, errlen);
            return EH_OFFLOAD_FAULT;
        }
    }
    /* Either path may serve it (the guest is parked and settled, at its
     * snapshot or reset): take the one measured faster here (cold_call.c).
     * Only on a handle with an idle window: a woken thread serves the call
     * into the warm regime, as a caller's run left unreset does above (with
     * no window, each call would also wait for the woken thread's park,
     * wait_strict_park). Not on a one-CPU handle, whose vCPU thread would
     * share the caller's CPU; not for a caller at a lower CPU priority (the
     * server's slow and idle lanes), whose tenant's kernels must run at its
     * priority, not at the vCPU thread's. */
    int pick = here && vm->cfg.idle_spin_us && !vm->one_cpu &&
               !(vm->cfg.flags & EH_VM_F_COLD_ON_CALLER) && caller_priority_normal();
    int sampled = pick && req->in_len + req->in2_len <= EH_COLD_SAMPLE_MAX;
    if (pick)
        here = eh_cold_pick_caller(sampled);
    /* io_lock: no reset may rewrite scratch while we copy in or out. It is
     * never held while waiting for the guest (a reset waits on it). */
    pthread_mutex_lock(&g->io_lock);
    eh_io_stage(g, req, &p);
    w->op = op;
    w->repeat = repeat;
    w->req = *req;
    w->req.in = p.in;
    w->req.in2 = p.in2;
    w->req.out = p.out;
    memset(&w->res, 0, sizeof w->res);
    w->host_waiting = here; /* the guest exits as soon as it is done */
    atomic_store(&g->caller_run, here);
    atomic_store(&g->caller_cpu, sched_getcpu());
    lim->may_be_stuck = !atomic_exchange(&g->at_snapshot, 0);
    uint64_t seq = ++vm->seq;
    uint64_t posted_at = eh_now_ns();
    atomic_store(&g->posted_seq, seq);
    __atomic_store_n(&w->req_seq, seq, __ATOMIC_SEQ_CST); /* doorbell */
    /* Read after the doorbell: a vCPU thread that parks from here on sees
     * posted_seq (both sides store, then load, sequentially consistent). */
    int warm = !here && atomic_load(&g->state) == EH_VCPU_RUNNING;
    uint64_t wake_at = 0, woken_at = 0;
    if (!warm && !here) {
        wake_at = eh_now_ns();
        eh_vcpu_wake(g);
        woken_at = eh_now_ns();
    }
    pthread_mutex_unlock(&g->io_lock);
    uint64_t t0 = eh_now_ns();
    if (!here && vm->slots_due)
        eh_windows_settle(vm); /* while the guest runs the call */
    if (here && (rc = eh_cold_call(g, seq, lim)) == 1) {
        here = sampled = 0; /* this thread cannot run it: the vCPU thread does */
        atomic_store(&g->caller_run, 0);
        eh_vcpu_wake(g);
    }
    if (!here)
        rc = wait_call(g, seq, lim, !warm);
    if (sampled && rc == 0 && !warm && vm->cold_last == here)
        eh_cold_note(here, eh_now_ns() - posted_at);
    if (pick)
        vm->cold_last = here;
    /* Finished, then broke -- a fault in the clean-up after the call, or a
     * done exit that never came and a fault after it: the result stands,
     * the guest is replaced below. (done_seq is guest-written, as on every
     * call: a guest can always claim a result.) */
    int broke_after = (rc == EH_OFFLOAD_FAULT ||
                       (rc == 0 && atomic_load(&g->state) == EH_VCPU_DEAD)) &&
                      __atomic_load_n(&w->done_seq, __ATOMIC_ACQUIRE) == seq &&
                      __atomic_load_n(&w->taken_seq, __ATOMIC_ACQUIRE) == seq;
    if (broke_after)
        rc = 0;
    pthread_mutex_lock(&g->io_lock);
    if (rc == 0) {
        *res = w->res;
        uint64_t n = res->out_len < req->out_cap ? res->out_len : req->out_cap;
        if (n)
            memcpy((void *)(uintptr_t)req->out, g->mem + p.out, n);
        if (__atomic_load_n(&w->scrubbed_seq, __ATOMIC_RELAXED) == seq)
            eh_io_output_scrubbed(g, &p, n);
        count(vm, g, &p, here, warm, t0, wake_at, woken_at);
    }
    atomic_store(&g->consumed_at_ns, eh_now_ns());
    atomic_store(&g->consumed_seq, seq); /* a reset may now run */
    atomic_store(&g->caller_run, 0);
    pthread_mutex_unlock(&g->io_lock);
    if (here && rc == 0 && !broke_after) { /* stopped at its done exit: reset it later */
        uint64_t idle_ns = atomic_load(&vm->idle_ns);
        eh_vcpu_schedule_reset(g, idle_ns > EH_DEFERRED_RESET_NS ? idle_ns : EH_DEFERRED_RESET_NS);
    }
    if (atomic_load(&g->consume_waiting)) {
        atomic_fetch_add(&g->consume_evt, 1);
        eh_futex_wake(&g->consume_evt);
    }
    if (broke_after) {
        eh_guest_fail(vm, g, NULL, 0); /* the next call boots a fresh guest */
        return 0;
    }
    if (rc == 0 && warm)
        refresh(vm, g);
    if (vm->slots_due && vm->g == g && (rc == 0 || rc == EH_OFFLOAD_TIMEOUT))
        eh_windows_settle(vm); /* the caller ran the guest itself */
    /* Stuck, or faulted, before it took this call: the guest broke since
     * its previous call (vmm_internal.h, EH_TAKE_CPU_NS); not this call's doing. */
    if (rc == EH_OFFLOAD_FAULT && __atomic_load_n(&w->taken_seq, __ATOMIC_ACQUIRE) != seq)
        rc = EH_CALL_NOT_TAKEN;
    else if (rc == EH_CALL_NOT_TAKEN)
        snprintf(g->fault, sizeof g->fault,
                 "stuck since its previous call: did not take call %llu in %llu ms of CPU",
                 (unsigned long long)seq, EH_TAKE_CPU_NS / 1000000ull);
    if (rc == EH_OFFLOAD_TIMEOUT) {
        vm->stats.timeouts++;
        if (atomic_load(&g->replace)) { /* stopped on a caller's thread (cold_call.c) */
            vm->stats.replaced++;
            eh_guest_free(vm, g); /* the next call boots a fresh guest */
            vm->g = NULL;
        }
    } else if (rc == EH_CALL_NOT_TAKEN) {
        vm->stats.stalled++;
        eh_guest_fail(vm, g, err, errlen); /* stops its vCPU; call() runs the call again */
    } else if (rc == EH_OFFLOAD_FAULT || rc == EH_OFFLOAD_SYSTEM) {
        if (rc == EH_OFFLOAD_SYSTEM)
            snprintf(g->fault, sizeof g->fault, "vCPU thread did not stop after the deadline");
        eh_guest_fail(vm, g, err, errlen); /* next call boots a fresh guest */
        rc = EH_OFFLOAD_FAULT;
    }
    return rc;
}

/* A call's limits: the caller's deadline (wall) if it gave one, else a
 * backstop of ten times the CPU limit (+1 s) for a guest that gets no CPU at
 * all; and the handle's time limit as guest CPU time. */
static eh_call_limits call_limits(const eh_vm *vm, uint64_t deadline_ns)
{
    uint64_t cpu = (uint64_t)vm->cfg.time_limit_ms * 1000000ull;
    eh_call_limits l = {.cpu_ns = cpu, .callers = deadline_ns != 0};
    l.wall = deadline_ns ? deadline_ns : eh_now_ns() + 10 * cpu + 1000000000ull;
    return l;
}

/* Takes the handle's lock. A caller with a deadline counts the wait behind
 * other calls against it (0 when the lock came in time); the handle's own
 * time limit starts when the call does. */
static int lock_by(eh_vm *vm, uint64_t deadline_ns)
{
    if (!deadline_ns)
        return pthread_mutex_lock(&vm->lock);
    struct timespec ts = {(time_t)(deadline_ns / 1000000000ull),
                          (long)(deadline_ns % 1000000000ull)};
    return pthread_mutex_clocklock(&vm->lock, CLOCK_MONOTONIC, &ts);
}

static eh_offload_status call(eh_vm *vm, uint32_t op, uint32_t repeat,
                              const eh_offload_req *req, eh_offload_res *res,
                              uint64_t deadline_ns, char *err, size_t errlen)
{
    if (!vm || !req || !res) {
        EH_ERR(err, errlen, "NULL argument");
        return EH_OFFLOAD_INVALID;
    }
    if (lock_by(vm, deadline_ns)) {
        memset(res, 0, sizeof *res);
        EH_ERR(err, errlen, "the caller's deadline passed while the guest served other calls");
        atomic_fetch_add(&vm->lock_timeouts, 1);
        return EH_OFFLOAD_TIMEOUT;
    }
    eh_call_limits lim = call_limits(vm, deadline_ns);
    int rc = call_locked(vm, op, repeat, req, res, &lim, err, errlen);
    if (rc == EH_CALL_NOT_TAKEN) /* the stuck guest is gone, the call never ran */
        rc = call_locked(vm, op, repeat, req, res, &lim, err, errlen);
    if (rc == EH_CALL_NOT_TAKEN) /* a fresh guest stuck before its first call */
        rc = EH_OFFLOAD_FAULT;
    if (rc == EH_OFFLOAD_TIMEOUT && lim.why != EH_LIMIT_NONE) { /* else: the boot's */
        memset(res, 0, sizeof *res);
        if (lim.why == EH_LIMIT_DEADLINE)
            EH_ERR(err, errlen, "call stopped at the caller's deadline");
        else if (lim.why == EH_LIMIT_STUCK)
            EH_ERR(err, errlen, "call got no CPU for %u ms (10x its limit)",
                   10 * vm->cfg.time_limit_ms);
        else
            EH_ERR(err, errlen, "call exceeded its %u ms limit", vm->cfg.time_limit_ms);
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

static eh_offload_status offload1(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                                  uint64_t deadline_ns, char *err, size_t errlen)
{
    return call(vm, EH_OP_OFFLOAD, 0, req, res, deadline_ns, err, errlen);
}

eh_offload_status eh_vm_offload(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                                uint64_t deadline_ns, char *err, size_t errlen)
{
    eh_offload_status rc = offload1(vm, req, res, deadline_ns, err, errlen);
    if (rc == EH_OFFLOAD_TOO_LARGE && eh_split_ok(req))
        rc = eh_split_run(vm, offload1, req, res, deadline_ns, err, errlen);
    return rc;
}

eh_offload_status eh_vm_call_op(eh_vm *vm, uint32_t op, const eh_offload_req *req,
                                eh_offload_res *res, uint64_t deadline_ns, char *err,
                                size_t errlen)
{
    return call(vm, op, 0, req, res, deadline_ns, err, errlen);
}

eh_offload_status eh_vm_call_repeat(eh_vm *vm, const eh_offload_req *req, uint32_t repeat,
                                    eh_offload_res *res, char *err, size_t errlen)
{
    return call(vm, EH_OP_REPEAT, repeat, req, res, 0, err, errlen);
}

eh_offload_status eh_vm_ping(eh_vm *vm, uint64_t n, uint64_t *ns_total, char *err,
                             size_t errlen)
{
    eh_offload_req req;
    eh_offload_res res;
    memset(&req, 0, sizeof req);
    req.arg[0] = n;
    uint64_t t0 = eh_now_ns();
    int rc = eh_vm_call_op(vm, EH_OP_PING, &req, &res, 0, err, errlen);
    *ns_total = eh_now_ns() - t0;
    return rc;
}

static eh_offload_status sink_attach(eh_vm *vm, const void *mem, uint64_t len)
{
    return eh_vm_attach(vm, mem, len, 0);
}

const eh_offload_sink eh_vm_sink = {
    .run = eh_vm_offload,
    .attach = sink_attach,
    .detach = eh_vm_detach,
    .prewarm = eh_vm_prewarm,
};
