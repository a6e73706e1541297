/*
 * Post-init snapshot and authoritative reset.
 *
 * take (vCPU thread, at EH_DONE_INIT): registers + XSAVE state, and a 4 KiB
 * copy of every page that differs from zero-filled memory: the monitor's
 * pages (page tables get accessed/dirty bits written on the guest's behalf,
 * the GDT a busy bit, the ring-0 stack exception frames, so they show up in
 * the dirty log too), the image's writable pages, and every page the guest
 * dirtied during init. Then the image's writable pages are made read-only
 * in the host mapping: the runtime has initialised, nothing may write them
 * again (a guest write is a failed fault-in, KVM_RUN -> EFAULT, a fault), so
 * no call can leave anything there and no reset ever needs to restore them.
 *
 * Hot pages -- the window and the stack -- are written by nearly every call.
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the monitor never re-protects them
 * (a write-protect fault costs ~2 us per page on the PVM-nested Zen 3, 10-15
 * us on the PVM-nested Ice Lake Xeon) and instead restores the stack
 * wholesale on every reset without consulting the log. Every other page is
 * tracked: reset restores exactly the pages dirtied since the last reset and
 * re-protects them -- except the dirty scratch pages inside the I/O ranges
 * of the calls since the last reset (g->io_hi), which the next calls of the
 * same sizes write again: those are restored but left writable ("kept"), so
 * a large output or working area does not pay a write-protect fault per
 * page on every call after a reset (JSON over 1 MiB: 474 pages, ~7 ms on
 * the Xeon against a ~2.5 ms kernel). Invariant that keeps this sound: KVM
 * clears a page's dirty bit only in KVM_CLEAR_DIRTY_LOG, which also
 * write-protects it; a page left writable keeps its bit, so every reset
 * reports and restores it until a reset whose I/O ranges no longer cover it
 * re-protects it. So a kept page is restored at every reset whether the
 * guest wrote it or not, and the kept set is bounded by the last two
 * periods' I/O ranges. Without manual protection every page is tracked.
 *
 * reset (vCPU thread, guest stopped): tracked dirty pages and hot pages are
 * restored from their copy or zeroed, then registers and XSAVE state.
 * Read-only pages cannot have been dirtied by the guest, and the host never
 * writes guest memory outside the window and the I/O ranges (which it zeroes
 * itself after each call), so after reset the guest's memory equals the
 * snapshot. The window is the channel and is not restored. Segment
 * registers, control registers and MSRs are not restored: ring 3 cannot
 * change them (no FSGSBASE, no other DPL-3 descriptors than the flat ones).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "vmm/vmm_internal.h"

static size_t bitmap_words(eh_guest *g) { return (g->mem_len / EH_GL_PAGE + 63) / 64; }

/* Must run before the memory slot is created. */
void eh_dirty_setup(eh_guest *g)
{
    struct kvm_enable_cap cap;
    memset(&cap, 0, sizeof cap);
    cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
    cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
    g->manual_protect = ioctl(g->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

static int is_hot(eh_guest *g, uint64_t pfn)
{
    uint64_t a = pfn * EH_GL_PAGE;
    return g->manual_protect &&
           ((a >= EH_GL_WINDOW && a < EH_GL_WINDOW + EH_GL_WINDOW_SIZE) ||
            (a >= EH_GL_STACK_BASE && a < EH_GL_STACK_TOP));
}

/* Re-protects the tracked pages set in dirty_bitmap: not the hot ones, nor
 * the scratch pages below keep_hi (the last I/O ranges), whose count goes to
 * *kept. */
static int clear_tracked(eh_guest *g, uint64_t keep_hi, uint64_t *kept)
{
    *kept = 0;
    if (!g->manual_protect)
        return 0; /* KVM_GET_DIRTY_LOG already did */
    size_t words = bitmap_words(g);
    uint64_t any = 0;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t bits = g->dirty_bitmap[w]; bits; bits &= bits - 1) {
            uint64_t pfn = w * 64 + __builtin_ctzll(bits);
            uint64_t a = pfn * EH_GL_PAGE;
            int keep = a >= EH_GL_SCRATCH && a < keep_hi;
            if (keep || is_hot(g, pfn))
                g->dirty_bitmap[w] &= ~(1ull << (pfn & 63));
            *kept += (uint64_t)keep;
        }
        any |= g->dirty_bitmap[w];
    }
    if (!any)
        return 0; /* only hot pages were dirty: nothing to re-protect */
    struct kvm_clear_dirty_log c;
    memset(&c, 0, sizeof c);
    c.slot = 0;
    c.first_page = 0;
    c.num_pages = (uint32_t)(g->mem_len / EH_GL_PAGE);
    c.dirty_bitmap = g->dirty_bitmap;
    return ioctl(g->vm_fd, KVM_CLEAR_DIRTY_LOG, &c);
}

static int get_dirty(eh_guest *g)
{
    struct kvm_dirty_log log = {0};
    log.slot = 0;
    log.dirty_bitmap = g->dirty_bitmap;
    return ioctl(g->vm_fd, KVM_GET_DIRTY_LOG, &log);
}

static int is_window(uint64_t pfn)
{
    uint64_t a = pfn * EH_GL_PAGE;
    return a >= EH_GL_WINDOW && a < EH_GL_WINDOW + EH_GL_WINDOW_SIZE;
}

static int add_page(eh_guest *g, uint64_t pfn, size_t *cap)
{
    if (g->nsnap && g->snap[g->nsnap - 1].pfn >= pfn) {
        for (size_t i = 0; i < g->nsnap; i++)
            if (g->snap[i].pfn == pfn)
                return 0;
    }
    if (g->nsnap == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        eh_snap_page *n = realloc(g->snap, *cap * sizeof *n);
        if (!n)
            return -1;
        g->snap = n;
    }
    uint8_t *copy = malloc(EH_GL_PAGE);
    if (!copy)
        return -1;
    memcpy(copy, g->mem + pfn * EH_GL_PAGE, EH_GL_PAGE);
    g->snap[g->nsnap++] = (eh_snap_page){pfn, copy};
    return 0;
}

static int by_pfn(const void *a, const void *b)
{
    uint64_t x = ((const eh_snap_page *)a)->pfn, y = ((const eh_snap_page *)b)->pfn;
    return x < y ? -1 : x > y;
}

int eh_snap_take(eh_guest *g, const eh_elf_info *elf, char *err, size_t errlen)
{
    size_t words = bitmap_words(g);
    g->dirty_bitmap = calloc(words, 8);
    if (!g->dirty_bitmap)
        return EH_OFFLOAD_SYSTEM;
    if (ioctl(g->vcpu_fd, KVM_GET_REGS, &g->snap_regs) ||
        ioctl(g->vcpu_fd, KVM_GET_SREGS, &g->snap_sregs) ||
        ioctl(g->vcpu_fd, KVM_GET_XSAVE, &g->snap_xsave)) {
        EH_ERR(err, errlen, "snapshot registers: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    size_t cap = 0;
    for (uint64_t a = EH_GL_STACK_BASE; a < EH_GL_STACK_TOP; a += EH_GL_PAGE)
        if (add_page(g, a / EH_GL_PAGE, &cap)) /* hot: always restored */
            return EH_OFFLOAD_SYSTEM;
    if (get_dirty(g)) {
        EH_ERR(err, errlen, "KVM_GET_DIRTY_LOG: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    for (uint64_t a = EH_GL_GDT; a < g->pt_end; a += EH_GL_PAGE) /* monitor pages */
        if (add_page(g, a / EH_GL_PAGE, &cap))
            return EH_OFFLOAD_SYSTEM;
    for (uint64_t a = elf->wr_lo; a < elf->wr_hi; a += EH_GL_PAGE)
        if (add_page(g, a / EH_GL_PAGE, &cap))
            return EH_OFFLOAD_SYSTEM;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t bits = g->dirty_bitmap[w]; bits; bits &= bits - 1) {
            uint64_t pfn = w * 64 + __builtin_ctzll(bits);
            if (!is_window(pfn) && add_page(g, pfn, &cap))
                return EH_OFFLOAD_SYSTEM;
        }
    }
    qsort(g->snap, g->nsnap, sizeof *g->snap, by_pfn);
    uint64_t kept;
    if (clear_tracked(g, 0, &kept)) { /* init's pages: all re-protected */
        EH_ERR(err, errlen, "KVM_CLEAR_DIRTY_LOG: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    if (elf->wr_hi && mprotect(g->mem + elf->wr_lo, elf->wr_hi - elf->wr_lo, PROT_READ)) {
        EH_ERR(err, errlen, "write-protecting the image's data: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    atomic_store(&g->at_snapshot, 1);
    return 0;
}

static const uint8_t *snap_copy(eh_guest *g, uint64_t pfn)
{
    size_t lo = 0, hi = g->nsnap;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->snap[mid].pfn < pfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->nsnap && g->snap[lo].pfn == pfn ? g->snap[lo].copy : NULL;
}

static void restore_page(eh_guest *g, uint64_t pfn)
{
    const uint8_t *src = snap_copy(g, pfn);
    if (src)
        memcpy(g->mem + pfn * EH_GL_PAGE, src, EH_GL_PAGE);
    else
        memset(g->mem + pfn * EH_GL_PAGE, 0, EH_GL_PAGE);
}

static int snap_reset_locked(eh_guest *g, int abandon_call);

/* Returns 0 when reset, 1 when skipped because a call is posted (the guest
 * must serve it; the next idle exit resets), -1 on failure. Holds io_lock so
 * it never overlaps the caller's copies into or out of scratch, and (unless
 * abandoning a call) first waits until the caller has copied the last
 * result out: the reset would otherwise wipe the output it is about to read.
 * The caller never waits for the guest while a result is unconsumed. */
int eh_snap_reset(eh_guest *g, int abandon_call)
{
    for (;;) {
        pthread_mutex_lock(&g->io_lock);
        uint64_t req = atomic_load(&g->posted_seq); /* host truth */
        if (abandon_call || atomic_load(&g->consumed_seq) == req || atomic_load(&g->stop))
            break;
        pthread_mutex_unlock(&g->io_lock);
        if (__atomic_load_n(&g->win->done_seq, __ATOMIC_ACQUIRE) != req)
            return 1; /* posted, not served yet */
        /* a caller asleep in wait_call must see the finished call */
        atomic_fetch_add(&g->event, 1);
        eh_futex_wake(&g->event);
        /* announce, then re-check (pairs with the caller's store + load) */
        uint32_t ev = atomic_load(&g->consume_evt);
        atomic_store(&g->consume_waiting, 1);
        if (atomic_load(&g->consumed_seq) != req)
            eh_futex_wait(&g->consume_evt, ev, 1000000);
    }
    atomic_store(&g->consume_waiting, 0);
    int rc = snap_reset_locked(g, abandon_call);
    pthread_mutex_unlock(&g->io_lock);
    return rc;
}

static int snap_reset_locked(eh_guest *g, int abandon_call)
{
    uint64_t t0 = eh_now_ns();
    if (get_dirty(g))
        return -1;
    size_t words = bitmap_words(g);
    uint64_t pages = 0;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t bits = g->dirty_bitmap[w]; bits; bits &= bits - 1) {
            uint64_t pfn = w * 64 + __builtin_ctzll(bits);
            if (is_window(pfn) || is_hot(g, pfn))
                continue;
            restore_page(g, pfn);
            pages++;
        }
    }
    if (g->manual_protect) /* the stack: all of it, every time */
        for (uint64_t a = EH_GL_STACK_BASE; a < EH_GL_STACK_TOP; a += EH_GL_PAGE, pages++)
            restore_page(g, a / EH_GL_PAGE);
    uint64_t kept;
    if (clear_tracked(g, g->io_hi, &kept) || ioctl(g->vcpu_fd, KVM_SET_REGS, &g->snap_regs) ||
        ioctl(g->vcpu_fd, KVM_SET_XSAVE, &g->snap_xsave))
        return -1;
    /* A call abandoned by a signal may have stopped the vCPU anywhere: the
     * abandoned path also puts back the segment state and drops any event
     * KVM still holds, so nothing of the stopped call survives in the vCPU
     * beyond the registers. (This alone did not cure the "corrupt ring-0
     * stack" faults after a caller-run timeout under PVM: those guests are
     * freed instead, see cold_call.c.) Warm resets happen at an idle exit,
     * a known ring-3 point, and skip the two ioctls. */
    if (abandon_call) {
        struct kvm_vcpu_events ev;
        memset(&ev, 0, sizeof ev);
        if (ioctl(g->vcpu_fd, KVM_SET_SREGS, &g->snap_sregs) ||
            ioctl(g->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev))
            return -1;
    }
    /* The channel is guest-writable: put the doorbell back to host truth.
     * A reset only runs with no call in flight (consumed == posted) or when
     * abandoning the call in flight, so both sequence numbers = posted. */
    eh_call_window *w = g->win;
    uint64_t posted = atomic_load(&g->posted_seq);
    w->log_len = 0;
    w->spin_tsc = eh_idle_tsc(g->owner);
    if (abandon_call)
        memset(&w->res, 0, sizeof w->res);
    w->req_seq = posted;
    __atomic_store_n(&w->done_seq, posted, __ATOMIC_RELEASE);
    atomic_fetch_add(&g->resets, 1);
    atomic_store(&g->at_snapshot, 1);
    atomic_store(&g->last_reset_pages, pages);
    atomic_store(&g->last_reset_kept, kept);
    g->io_hi = 0; /* a new period: no I/O ranges yet */
    atomic_store(&g->last_reset_ns, eh_now_ns() - t0);
    return 0;
}

void eh_snap_free(eh_guest *g)
{
    for (size_t i = 0; i < g->nsnap; i++)
        free(g->snap[i].copy);
    free(g->snap);
    free(g->dirty_bitmap);
    g->snap = NULL;
    g->nsnap = 0;
    g->dirty_bitmap = NULL;
}
