/*
 * The eh_vm handle: configuration, lazy guest boot, the call path, stats.
 *
 * Call path (caller's thread, handle mutex held):
 *   copy inputs into scratch -> write op/req into the window -> ring the
 *   doorbell (req_seq) -> wake the vCPU thread only if it is parked ->
 *   spin on done_seq for up to EH_SPIN_NS -> then sleep on the guest's event
 *   futex (host_waiting makes the guest exit to wake us) -> on deadline, ask
 *   the vCPU thread to stop the call (kill_seq + signal) -> copy the output
 *   back and zero every scratch byte the host wrote.
 * A warm call (vCPU spinning in the guest) therefore costs no VM exit and no
 * syscall at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "kernels/dispatch.h"
#include "vmm/vmm_internal.h"

#define EH_SPIN_NS 300000ull /* caller spins this long before sleeping */
#define EH_PURE_SPIN_NS 10000ull /* then spins with sched_yield: on a busy box the
                                     vCPU thread may share the caller's core */
#define EH_BOOT_MS_MIN 2000u
/* A warm guest is reset by the host at least this often (see refresh()). */
/* The parked vCPU thread resets a guest a caller ran itself this long after
 * the call, or after the idle window if longer (a call that comes first
 * settles it itself). Not sooner: on this host a timer that expires before
 * the next scheduler tick costs ~5 us to arm (the clock event is
 * reprogrammed through a trapping MSR write), one 5 ms out ~0.4 us. */
#define EH_DEFERRED_RESET_NS 5000000ull
#define EH_WARM_RESET_CALLS 1024u
#define EH_WARM_RESET_NS 50000000ull

/* ---- TSC calibration ---------------------------------------------------- */
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;
static double tsc_per_us;

static void calibrate_tsc(void)
{
    uint64_t t0 = eh_now_ns(), c0 = eh_rdtsc();
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    uint64_t t1 = eh_now_ns(), c1 = eh_rdtsc();
    tsc_per_us = (double)(c1 - c0) * 1000.0 / (double)(t1 - t0);
}

double eh_vm_tsc_per_us(void)
{
    pthread_once(&tsc_once, calibrate_tsc);
    return tsc_per_us;
}

/* ---- guest lifetime ----------------------------------------------------- */
static void guest_free(eh_vm *vm, eh_guest *g)
{
    if (g->thread)
        eh_vcpu_stop(g);
    vm->stats.exits += atomic_load(&g->exits);
    vm->stats.resets += atomic_load(&g->resets);
    vm->stats.log_lines += atomic_load(&g->log_lines);
    vm->stats.forced_parks += atomic_load(&g->forced_parks);
    vm->stats.window_maps += atomic_load(&g->window_maps);
    vm->stats.window_drops += atomic_load(&g->window_drops);
    if (g->run)
        munmap(g->run, g->run_size);
    if (g->vcpu_fd >= 0)
        close(g->vcpu_fd);
    if (g->vm_fd >= 0)
        close(g->vm_fd);
    eh_mem_unmap(g);
    eh_snap_free(g);
    pthread_mutex_destroy(&g->log_lock);
    pthread_mutex_destroy(&g->io_lock);
    free(g);
}

static void window_config(eh_vm *vm, eh_guest *g)
{
    eh_call_window *w = g->win;
    w->cpu_features = eh_cpu_detect();
    w->spin_tsc = vm->spin_tsc;
    if (vm->variant)
        snprintf(w->variant, sizeof w->variant, "%s", vm->variant);
    if (vm->elf.wr_hi) {
        w->snap_src = vm->elf.wr_lo;
        w->snap_len = vm->elf.wr_hi - vm->elf.wr_lo;
        w->snap_copy = EH_GL_SNAP_BASE;
    }
    w->mem_end = g->mem_len;
    w->ack_tsc = (uint64_t)(EH_GL_ACK_US * eh_vm_tsc_per_us());
}

static int guest_boot(eh_vm *vm, char *err, size_t errlen)
{
    uint64_t t0 = eh_now_ns();
    eh_guest *g = calloc(1, sizeof *g);
    if (!g)
        return EH_VM_ESYS;
    g->vm_fd = g->vcpu_fd = -1;
    g->owner = vm;
    pthread_mutex_init(&g->log_lock, NULL);
    pthread_mutex_init(&g->io_lock, NULL);
    int rc = EH_VM_ESYS;
    int kvm = eh_kvm_fd(err, errlen);
    if (kvm < 0)
        goto fail;
    g->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
    if (g->vm_fd < 0) {
        EH_ERR(err, errlen, "KVM_CREATE_VM: %m");
        goto fail;
    }
    eh_dirty_setup(g); /* before the memory slot exists */
    int huge = vm->cfg.page_size != 4096;
    if ((rc = eh_mem_map(g, vm->cfg.mem_bytes, huge, err, errlen)))
        goto fail;
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .flags = KVM_MEM_LOG_DIRTY_PAGES,
        .guest_phys_addr = 0,
        .memory_size = g->mem_len,
        .userspace_addr = (uintptr_t)g->mem,
    };
    if (ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &region)) {
        EH_ERR(err, errlen, "KVM_SET_USER_MEMORY_REGION: %m");
        rc = EH_VM_ESYS;
        goto fail;
    }
    if ((rc = eh_mem_layout(g, &vm->elf, vm->image, !huge, err, errlen)))
        goto fail;
    window_config(vm, g);
    if ((rc = eh_vcpu_setup(g, vm->elf.entry, err, errlen)))
        goto fail;
    uint32_t boot_ms = vm->cfg.time_limit_ms > EH_BOOT_MS_MIN ? vm->cfg.time_limit_ms
                                                               : EH_BOOT_MS_MIN;
    if ((rc = eh_vcpu_start(g, boot_ms, err, errlen)))
        goto fail;
    vm->g = g;
    vm->resets_seen = 0; /* the refresh clock starts with the new guest */
    vm->warm_calls_since_reset = 0;
    vm->last_reset_at_ns = eh_now_ns();
    vm->stats.creates++;
    vm->stats.last_create_ns = eh_now_ns() - t0;
    return 0;
fail:
    guest_free(vm, g);
    return rc;
}

/* ---- handle ------------------------------------------------------------- */
static int read_image(eh_vm *vm, char *err, size_t errlen)
{
    int fd = open(vm->image_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        EH_ERR(err, errlen, "guest image %s: %m", vm->image_path);
        if (fd >= 0)
            close(fd);
        return EH_VM_EINVAL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > EH_ELF_MAX_FILE) {
        EH_ERR(err, errlen, "guest image %s: not a regular file of 1..%u bytes", vm->image_path,
               EH_ELF_MAX_FILE);
        close(fd);
        return EH_VM_EINVAL;
    }
    vm->image = malloc(st.st_size);
    size_t got = 0;
    while (vm->image && got < (size_t)st.st_size) {
        ssize_t n = read(fd, vm->image + got, st.st_size - got);
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    if (!vm->image || got != (size_t)st.st_size) {
        EH_ERR(err, errlen, "guest image %s: short read", vm->image_path);
        return EH_VM_EINVAL;
    }
    vm->image_len = got;
    return eh_elf_parse(vm->image, vm->image_len, &vm->elf, err, errlen);
}

int eh_vm_create(const eh_vm_config *cfg, eh_vm **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->image_path) {
        EH_ERR(err, errlen, "no guest image path");
        return EH_VM_EINVAL;
    }
    eh_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return EH_VM_ESYS;
    pthread_mutex_init(&vm->lock, NULL);
    vm->cfg = *cfg;
    if (!vm->cfg.mem_bytes)
        vm->cfg.mem_bytes = 256ull << 20;
    if (!vm->cfg.time_limit_ms)
        vm->cfg.time_limit_ms = 1000;
    if (!vm->cfg.page_size)
        vm->cfg.page_size = 2u << 20;
    vm->image_path = strdup(cfg->image_path);
    vm->variant = cfg->variant && cfg->variant[0] ? strdup(cfg->variant) : NULL;
    vm->cfg.image_path = vm->image_path;
    vm->cfg.variant = vm->variant;
    int rc = 0;
    if (vm->cfg.mem_bytes < EH_GL_MEM_MIN || vm->cfg.mem_bytes > EH_GL_MEM_MAX ||
        vm->cfg.mem_bytes % EH_GL_HUGE) {
        EH_ERR(err, errlen, "mem_bytes must be a multiple of 2 MiB in [32 MiB, 1 GiB]");
        rc = EH_VM_EINVAL;
    } else if (vm->cfg.page_size != 4096 && vm->cfg.page_size != (2u << 20)) {
        EH_ERR(err, errlen, "page_size must be 4096 or 2097152");
        rc = EH_VM_EINVAL;
    } else if (vm->variant && strlen(vm->variant) >= EH_GL_VARIANT_MAX) {
        EH_ERR(err, errlen, "variant name too long");
        rc = EH_VM_EINVAL;
    } else {
        rc = read_image(vm, err, errlen);
    }
    if (rc) {
        eh_vm_destroy(vm);
        return rc;
    }
    vm->spin_tsc = (uint64_t)(vm->cfg.idle_spin_us * eh_vm_tsc_per_us());
    if (eh_live_add(vm)) {
        eh_vm_destroy(vm);
        return EH_VM_ESYS;
    }
    *out = vm;
    return 0;
}

void eh_vm_destroy(eh_vm *vm)
{
    if (!vm)
        return;
    eh_live_remove(vm); /* waits out an eh_vm_forget that is using it */
    pthread_mutex_lock(&vm->lock);
    if (vm->g)
        guest_free(vm, vm->g);
    vm->g = NULL;
    pthread_mutex_unlock(&vm->lock);
    pthread_mutex_destroy(&vm->lock);
    free(vm->image);
    free(vm->image_path);
    free(vm->variant);
    free(vm);
}

int eh_vm_boot(eh_vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    int rc = vm->g ? 0 : guest_boot(vm, err, errlen);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

/* ---- the call ----------------------------------------------------------- */
typedef struct io_plan {
    uint64_t in, in2, out;  /* guest addresses the kernel gets                    */
    uint64_t s_in, s_in2;   /* where copied inputs go in scratch                  */
    uint64_t c_in, c_in2;   /* bytes copied there (0: read in place via the window) */
    uint64_t end;           /* first scratch byte past the output                 */
} io_plan;

static uint64_t up64(uint64_t x) { return (x + 63) & ~63ull; }

/* Buffers start 64-byte aligned but at different offsets modulo 4 KiB (and
 * so in different cache sets): streams at exactly page-multiple distances
 * alias (4K store-to-load aliasing, set conflicts) and run slower than the
 * same kernel on ordinary host allocations. */
#define EH_IO_GAP 1088ull

/* win_in, win_in2: the inputs' input-window addresses, 0 where copied. */
static int plan_io(eh_guest *g, const eh_offload_req *req, uint64_t win_in, uint64_t win_in2,
                   io_plan *p, char *err, size_t errlen)
{
    if ((req->in_len && !req->in) || (req->in2_len && !req->in2) ||
        (req->out_cap && !req->out)) {
        EH_ERR(err, errlen, "NULL buffer with a non-zero length");
        return EH_VM_EINVAL;
    }
    p->c_in = win_in ? 0 : req->in_len;
    p->c_in2 = win_in2 ? 0 : req->in2_len;
    uint64_t room = g->mem_len - EH_GL_SCRATCH;
    if (p->c_in > room || p->c_in2 > room || req->out_cap > room ||
        up64(p->c_in) + up64(p->c_in2) + req->out_cap + 2 * EH_IO_GAP > room) {
        EH_ERR(err, errlen, "in+in2+out = %llu bytes exceed the guest's %llu bytes of scratch",
               (unsigned long long)(p->c_in + p->c_in2 + req->out_cap),
               (unsigned long long)room);
        return EH_VM_ETOOBIG;
    }
    p->s_in = EH_GL_SCRATCH;
    p->s_in2 = p->s_in + up64(p->c_in) + EH_IO_GAP;
    p->out = p->s_in2 + up64(p->c_in2) + EH_IO_GAP;
    p->end = p->out + req->out_cap;
    p->in = win_in ? win_in : p->s_in;
    p->in2 = win_in2 ? win_in2 : p->s_in2;
    return 0;
}

static void zero_range(eh_guest *g, uint64_t lo, uint64_t hi)
{
    if (hi > lo)
        memset(g->mem + lo, 0, hi - lo);
}

/* Before call p is posted, with its inputs already copied in: zero every
 * scratch byte an earlier call left that p's inputs did not overwrite (the
 * gaps and p's output range included). Deferring the clear to here costs
 * nothing in isolation: no guest code of a new call runs before it, and it
 * spares a full clear of inputs that the next copy overwrites anyway. */
static void zero_stale(eh_guest *g, const io_plan *p)
{
    uint64_t stale = g->stale_end;
    uint64_t in_end = p->s_in + p->c_in, in2_end = p->s_in2 + p->c_in2;
    zero_range(g, in_end, p->s_in2 < stale ? p->s_in2 : stale);
    zero_range(g, in2_end, stale);
    g->stale_end = p->end > in2_end ? p->end : in2_end;
}

/* Outcome of waiting: 0 done, EH_VM_ETIMEOUT, EH_VM_EFAULT. */
static int outcome(eh_guest *g, uint64_t seq)
{
    if (atomic_load(&g->aborted_seq) == seq)
        return atomic_load(&g->abort_kind) == EH_ABORT_TIMEOUT ? EH_VM_ETIMEOUT : EH_VM_EFAULT;
    if (atomic_load(&g->state) == EH_VCPU_DEAD)
        return EH_VM_EFAULT;
    return 1; /* still running */
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

/* cold: we just woke the parked vCPU thread, which the scheduler likes to
 * queue on our own CPU, so yield from the first spin. */
static int wait_call(eh_vm *vm, eh_guest *g, uint64_t seq, int cold)
{
    uint64_t pure_spin = cold ? 0 : EH_PURE_SPIN_NS;
    uint64_t start = eh_now_ns();
    uint64_t deadline = start + (uint64_t)vm->cfg.time_limit_ms * 1000000ull;
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
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if ((rc = finished(g, seq)) <= 0)
            return rc;
        int64_t left = (int64_t)(deadline - eh_now_ns());
        if (left <= 0)
            break;
        eh_futex_wait(&g->event, e, left);
    }
    /* deadline passed: the vCPU thread stops the call unless it just finished */
    atomic_store(&g->kill_seq, seq);
    eh_vcpu_kick(g);
    uint64_t give_up = eh_now_ns() + 2000000000ull;
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if ((rc = finished(g, seq)) <= 0)
            return rc;
        int64_t left = (int64_t)(give_up - eh_now_ns());
        if (left <= 0)
            return EH_VM_ESYS; /* vCPU thread unresponsive: caller destroys the guest */
        eh_futex_wait(&g->event, e, left < 1000000 ? left : 1000000);
        eh_vcpu_kick(g); /* re-send: a kick may land just before a park check */
    }
}

static void record_fault(eh_vm *vm, eh_guest *g, char *err, size_t errlen)
{
    snprintf(vm->fault, sizeof vm->fault, "%s", g->fault[0] ? g->fault : "guest died");
    vm->fault_addr = g->fault_addr;
    vm->fault_has_addr = g->fault_has_addr;
    if (g->fault_has_addr)
        EH_ERR(err, errlen, "%s at guest address %#llx", vm->fault,
               (unsigned long long)vm->fault_addr);
    else
        EH_ERR(err, errlen, "%s", vm->fault);
    vm->stats.faults++;
}

/* The warm path trusts the guest runtime's scrub between calls; to bound how
 * long anything a subverted runtime keeps could survive, the host forces its
 * authoritative reset (dirty pages + registers) every EH_WARM_RESET_CALLS
 * warm calls or EH_WARM_RESET_NS, whichever comes first. Runs between calls,
 * so no call observes it; costs one exit plus one reset. */
static void refresh(eh_vm *vm, eh_guest *g)
{
    uint64_t now = eh_now_ns(), resets = atomic_load(&g->resets);
    if (resets != vm->resets_seen) { /* a park or timeout already reset it */
        vm->resets_seen = resets;
        vm->warm_calls_since_reset = 0;
        vm->last_reset_at_ns = now;
        return;
    }
    if (++vm->warm_calls_since_reset < EH_WARM_RESET_CALLS &&
        now - vm->last_reset_at_ns < EH_WARM_RESET_NS)
        return;
    atomic_store(&g->refresh_req, 1);
    eh_vcpu_kick(g);
    uint64_t give_up = now + 100000000ull;
    for (;;) {
        uint32_t e = atomic_load(&g->event);
        if (atomic_load(&g->resets) != resets || atomic_load(&g->state) != EH_VCPU_RUNNING)
            break;
        int64_t left = (int64_t)(give_up - eh_now_ns());
        if (left <= 0)
            break;
        eh_futex_wait(&g->event, e, left);
    }
    vm->resets_seen = atomic_load(&g->resets);
    vm->warm_calls_since_reset = 0;
    vm->last_reset_at_ns = eh_now_ns();
}

/* mem, mem_len: the caller's wasm linear memory, or NULL (see input_window.c). */
static int call_locked(eh_vm *vm, uint32_t op, uint32_t repeat, const eh_offload_req *req,
                       const uint8_t *mem, uint64_t mem_len, eh_offload_res *res, char *err,
                       size_t errlen)
{
    int rc;
    if (!vm->g && (rc = guest_boot(vm, err, errlen)))
        return rc;
    eh_guest *g = vm->g;
    uint64_t win_in = 0, win_in2 = 0;
    if (eh_window_prepare(g, req, mem, mem_len)) {
        win_in = eh_window_gpa(g, req->in, req->in_len);
        win_in2 = eh_window_gpa(g, req->in2, req->in2_len);
    }
    io_plan p;
    if ((rc = plan_io(g, req, win_in, win_in2, &p, err, errlen)))
        return rc;
    eh_call_window *w = g->win;
    /* Parked: run the call on this thread (cold_call.c) unless an earlier
     * such call left the guest unreset and the tenant has an idle window:
     * then the vCPU thread takes it on into the warm regime. A parked thread
     * stays parked while we hold vm->lock and have posted nothing. */
    int here = atomic_load(&g->state) == EH_VCPU_PARKED &&
               !(vm->cfg.flags & EH_VM_F_COLD_ON_VCPU_THREAD) && eh_cold_on_caller_ok();
    if (here && atomic_exchange(&g->reset_pending, 0)) {
        if (vm->cfg.idle_spin_us)
            here = 0;
        else if (eh_vcpu_cancel_reset(g), eh_snap_reset(g, 0) < 0) {
            snprintf(g->fault, sizeof g->fault, "reset before a call failed: %s", strerror(errno));
            record_fault(vm, g, err, errlen);
            guest_free(vm, g);
            vm->g = NULL;
            return EH_VM_EFAULT;
        }
    }
    /* io_lock: no reset may rewrite scratch while we copy in or out. It is
     * never held while waiting for the guest (a reset waits on it). */
    pthread_mutex_lock(&g->io_lock);
    if (p.c_in)
        memcpy(g->mem + p.s_in, (const void *)(uintptr_t)req->in, p.c_in);
    if (p.c_in2)
        memcpy(g->mem + p.s_in2, (const void *)(uintptr_t)req->in2, p.c_in2);
    zero_stale(g, &p);
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
    uint64_t seq = ++vm->seq;
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
    if (here && (rc = eh_cold_call(g, seq, (uint64_t)vm->cfg.time_limit_ms * 1000000ull)) == 1) {
        here = 0; /* this thread cannot run it: the vCPU thread does */
        atomic_store(&g->caller_run, 0);
        eh_vcpu_wake(g);
    }
    if (!here)
        rc = wait_call(vm, g, seq, !warm);
    pthread_mutex_lock(&g->io_lock);
    if (rc == 0) {
        *res = w->res;
        uint64_t n = res->out_len < req->out_cap ? res->out_len : req->out_cap;
        if (n)
            memcpy((void *)(uintptr_t)req->out, g->mem + p.out, n);
        vm->stats.calls++;
        vm->stats.warm_calls += warm;
        vm->stats.mapped_calls += (win_in | win_in2) != 0;
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
    atomic_store(&g->consumed_at_ns, eh_now_ns());
    atomic_store(&g->consumed_seq, seq); /* a reset may now run */
    atomic_store(&g->caller_run, 0);
    pthread_mutex_unlock(&g->io_lock);
    if (here && rc == 0) { /* stopped at its done exit: reset it later */
        uint64_t idle_ns = vm->cfg.idle_spin_us * 1000ull;
        eh_vcpu_schedule_reset(g, idle_ns > EH_DEFERRED_RESET_NS ? idle_ns : EH_DEFERRED_RESET_NS);
    }
    if (atomic_load(&g->consume_waiting)) {
        atomic_fetch_add(&g->consume_evt, 1);
        eh_futex_wake(&g->consume_evt);
    }
    if (rc == 0 && warm)
        refresh(vm, g);
    if (rc == EH_VM_ETIMEOUT) {
        vm->stats.timeouts++;
        EH_ERR(err, errlen, "call exceeded its %u ms limit", vm->cfg.time_limit_ms);
    } else if (rc == EH_VM_EFAULT || rc == EH_VM_ESYS) {
        if (rc == EH_VM_ESYS)
            snprintf(g->fault, sizeof g->fault, "vCPU thread did not stop after the deadline");
        record_fault(vm, g, err, errlen);
        guest_free(vm, g); /* next call boots a fresh guest */
        vm->g = NULL;
        rc = EH_VM_EFAULT;
    }
    return rc;
}

static int call(eh_vm *vm, uint32_t op, uint32_t repeat, const eh_offload_req *req,
                const uint8_t *mem, uint64_t mem_len, eh_offload_res *res, char *err,
                size_t errlen)
{
    if (!vm || !req || !res) {
        EH_ERR(err, errlen, "NULL argument");
        return EH_VM_EINVAL;
    }
    pthread_mutex_lock(&vm->lock);
    int rc = call_locked(vm, op, repeat, req, mem, mem_len, res, err, errlen);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int eh_vm_call_op(eh_vm *vm, uint32_t op, const eh_offload_req *req, eh_offload_res *res,
                  char *err, size_t errlen)
{
    return call(vm, op, 0, req, NULL, 0, res, err, errlen);
}

int eh_vm_call_repeat(eh_vm *vm, const eh_offload_req *req, uint32_t repeat,
                      eh_offload_res *res, char *err, size_t errlen)
{
    return call(vm, EH_OP_REPEAT, repeat, req, NULL, 0, res, err, errlen);
}

int eh_vm_offload(void *vm, const eh_offload_req *req, eh_offload_res *res, char *err,
                  size_t errlen)
{
    return eh_vm_call_op((eh_vm *)vm, EH_OP_OFFLOAD, req, res, err, errlen);
}

int eh_vm_offload_in(void *vm, const eh_offload_req *req, eh_offload_res *res,
                     const void *mem, uint64_t mem_len, char *err, size_t errlen)
{
    return call((eh_vm *)vm, EH_OP_OFFLOAD, 0, req, mem, mem_len, res, err, errlen);
}

int eh_vm_ping(eh_vm *vm, uint64_t n, uint64_t *ns_total, char *err, size_t errlen)
{
    eh_offload_req req;
    eh_offload_res res;
    memset(&req, 0, sizeof req);
    req.arg[0] = n;
    uint64_t t0 = eh_now_ns();
    int rc = eh_vm_call_op(vm, EH_OP_PING, &req, &res, err, errlen);
    *ns_total = eh_now_ns() - t0;
    return rc;
}

int eh_vm_wait_parked(eh_vm *vm, uint32_t timeout_ms)
{
    pthread_mutex_lock(&vm->lock);
    eh_guest *g = vm->g;
    int rc = 0;
    uint64_t deadline = eh_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (g) {
        uint32_t e = atomic_load(&g->event);
        int st = atomic_load(&g->state);
        if (st == EH_VCPU_PARKED && atomic_exchange(&g->reset_pending, 0)) {
            eh_vcpu_cancel_reset(g); /* we hold the lock the vCPU thread would need */
            if (eh_snap_reset(g, 0) < 0)
                rc = EH_VM_ESYS;
        }
        if (st == EH_VCPU_PARKED || st == EH_VCPU_DEAD)
            break;
        int64_t left = (int64_t)(deadline - eh_now_ns());
        if (left <= 0) {
            rc = EH_VM_ETIMEOUT;
            break;
        }
        eh_futex_wait(&g->event, e, left);
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

void eh_vm_get_stats(eh_vm *vm, eh_vm_stats *out)
{
    pthread_mutex_lock(&vm->lock);
    *out = vm->stats;
    eh_guest *g = vm->g;
    if (g) {
        out->exits += atomic_load(&g->exits);
        out->resets += atomic_load(&g->resets);
        out->log_lines += atomic_load(&g->log_lines);
        out->forced_parks += atomic_load(&g->forced_parks);
        out->window_maps += atomic_load(&g->window_maps);
        out->window_drops += atomic_load(&g->window_drops);
        out->last_reset_ns = atomic_load(&g->last_reset_ns);
        out->last_reset_pages = atomic_load(&g->last_reset_pages);
        clockid_t cid;
        struct timespec ts;
        if (pthread_getcpuclockid(g->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
            out->vcpu_cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
    }
    pthread_mutex_unlock(&vm->lock);
}

int eh_vm_last_fault(eh_vm *vm, char *buf, size_t len, uint64_t *addr)
{
    pthread_mutex_lock(&vm->lock);
    snprintf(buf, len, "%s", vm->fault);
    *addr = vm->fault_addr;
    int has = vm->fault_has_addr;
    pthread_mutex_unlock(&vm->lock);
    return has;
}

void eh_vm_last_log(eh_vm *vm, char *buf, size_t len)
{
    pthread_mutex_lock(&vm->lock);
    eh_guest *g = vm->g;
    if (g) {
        pthread_mutex_lock(&g->log_lock);
        snprintf(vm->log, sizeof vm->log, "%s", g->log);
        pthread_mutex_unlock(&g->log_lock);
    }
    snprintf(buf, len, "%s", vm->log);
    pthread_mutex_unlock(&vm->lock);
}
