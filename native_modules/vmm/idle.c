/*
 * The adaptive idle window, after KVM's halt polling (which grows and
 * shrinks how long a halted vCPU polls before it sleeps).
 *
 * After a call the guest spins on the doorbell for the idle window, then
 * parks: the vCPU thread resets the guest and sleeps. A call that finds it
 * parked pays an exit round trip (caller-run or woken), and the park paid a
 * reset -- about 50 us each under PVM (`edgehost bench offload`: cold_*,
 * reset_after_call), CPU time as well as latency -- while a spinning guest
 * costs its core for the window. A tenant whose calls come a little further
 * apart than the window (a large input copied into its memory between two
 * calls, say) would pay the exit and the reset on every call.
 *
 * So: a call (or a prewarm) that finds the guest parked by its idle window
 * less than the window's length after that park doubles the window -- a
 * window twice as long would have caught it -- up to EH_IDLE_GROW_MAX times
 * the configured one; one that comes more than that bound after the park
 * halves it back toward the configured window, so a tenant that goes quiet
 * spins no longer than before. Parks that were not the idle window's end
 * (a caller-run call's stop, the watchdog, a timeout) teach nothing. A
 * window of 0 (none asked for, or a one-CPU handle) stays 0.
 *
 * Invariants: cfg.idle_spin_us * 1000 <= vm->idle_ns <= EH_IDLE_GROW_MAX
 * times that; vm->idle_ns changes only under vm->lock with the guest parked;
 * win->spin_tsc (guest-writable) is put back to it by every reset, and the
 * watchdog parks a guest that spins past it (vcpu_thread.c).
 */
#define _GNU_SOURCE
#include "vmm/vmm_internal.h"

/* Bound on the window, in multiples of cfg.idle_spin_us (100 -> 400 us by
 * default): a gap it bridges costs about what the exit and the reset it
 * saves cost in CPU on this kind of host. */
#define EH_IDLE_GROW_MAX 4u

void eh_idle_init(eh_vm *vm)
{
    atomic_store(&vm->idle_ns, (uint64_t)vm->cfg.idle_spin_us * 1000ull);
}

uint64_t eh_idle_tsc(eh_vm *vm)
{
    return (uint64_t)((double)atomic_load(&vm->idle_ns) / 1000.0 * eh_vm_tsc_per_us());
}

void eh_idle_found_parked(eh_vm *vm, eh_guest *g)
{
    uint64_t parked_at = atomic_exchange(&g->idle_parked_at_ns, 0);
    uint64_t base = (uint64_t)vm->cfg.idle_spin_us * 1000ull;
    uint64_t cur = atomic_load(&vm->idle_ns), max = base * EH_IDLE_GROW_MAX;
    if (!base || !parked_at)
        return; /* no window, or not parked by it: nothing to learn */
    uint64_t since = eh_now_ns() - parked_at;
    uint64_t next = since < cur ? cur * 2 : since > max ? cur / 2 : cur;
    next = next > max ? max : next < base ? base : next;
    if (next == cur)
        return;
    vm->stats.idle_grows += next > cur;
    atomic_store(&vm->idle_ns, next);
    g->win->spin_tsc = eh_idle_tsc(vm);
}
