/*
 * Where one call's inputs and output go in guest memory, and the copies.
 *
 * An input is read in place when a window shows it (windows.c decides when
 * that is cheaper than copying); otherwise it is copied into scratch. The
 * output always goes to scratch and only out_len bytes of it come back.
 * Scratch layout: [in][gap][in2][gap][out], each 64-byte aligned.
 *
 * No leftovers: before a call is posted, every scratch byte an earlier
 * call's inputs or output left that this call's inputs do not overwrite is
 * zeroed (the clear is deferred to that point: no guest code of a new call
 * runs before it, and the next copy overwrites most of it anyway). A kernel
 * call's output range past its result is zeroed by the guest runtime before
 * the call completes (scrubbed_seq, guest/runtime.c: those lines sit in the
 * guest core's cache, and a host memset would pull them across and back --
 * 5-18 us per call for JSON's 136 KiB working range on the Ice Lake Xeon);
 * then only the result the host copied out is left to clear here. Trusting
 * the runtime for it is the same trust as its stack scrub: a kernel
 * subverted by its input could keep state anywhere in the guest anyway,
 * bounded by the monitor's authoritative reset (snapshot.c).
 */
#define _GNU_SOURCE
#include <string.h>
#include "vmm/vmm_internal.h"

static uint64_t up64(uint64_t x) { return (x + 63) & ~63ull; }

/* Buffers start 64-byte aligned but at different offsets modulo 4 KiB (and
 * so in different cache sets): streams at exactly page-multiple distances
 * alias (4K store-to-load aliasing, set conflicts) and run slower than the
 * same kernel on ordinary host allocations. */
#define EH_IO_GAP 1088ull

static uint64_t scratch_room(uint64_t mem_bytes) { return mem_bytes - EH_GL_SCRATCH; }

static int fits(uint64_t room, uint64_t c_in, uint64_t c_in2, uint64_t out_cap)
{
    return c_in <= room && c_in2 <= room && out_cap <= room &&
           up64(c_in) + up64(c_in2) + out_cap + 2 * EH_IO_GAP <= room;
}

int eh_vm_fits(const eh_vm *vm, uint64_t in_len, uint64_t in2_len, uint64_t out_cap)
{
    return fits(scratch_room(vm->cfg.mem_bytes), in_len, in2_len, out_cap);
}

int eh_io_plan_make(eh_vm *vm, const eh_offload_req *req, eh_io_plan *p, char *err,
                    size_t errlen)
{
    if ((req->in_len && !req->in) || (req->in2_len && !req->in2) ||
        (req->out_cap && !req->out)) {
        EH_ERR(err, errlen, "NULL buffer with a non-zero length");
        return EH_OFFLOAD_INVALID;
    }
    uint64_t win_in, win_in2;
    eh_windows_place(vm, req, &win_in, &win_in2);
    p->c_in = win_in ? 0 : req->in_len;
    p->c_in2 = win_in2 ? 0 : req->in2_len;
    uint64_t room = scratch_room(vm->cfg.mem_bytes);
    if (!fits(room, p->c_in, p->c_in2, req->out_cap)) {
        EH_ERR(err, errlen,
               "in+in2+out = %llu bytes exceed the guest's %llu bytes of scratch memory",
               (unsigned long long)(p->c_in + p->c_in2 + req->out_cap),
               (unsigned long long)room);
        return EH_OFFLOAD_TOO_LARGE;
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

void eh_io_stage(eh_guest *g, const eh_offload_req *req, const eh_io_plan *p)
{
    if (p->c_in)
        memcpy(g->mem + p->s_in, (const void *)(uintptr_t)req->in, p->c_in);
    if (p->c_in2)
        memcpy(g->mem + p->s_in2, (const void *)(uintptr_t)req->in2, p->c_in2);
    /* What this call's copies overwrote: a = [s_in, +c_in) below b = [s_in2, +c_in2). */
    uint64_t a_lo = p->s_in, a_hi = p->s_in + p->c_in;
    uint64_t b_lo = p->s_in2, b_hi = p->s_in2 + p->c_in2;
    for (int k = 0; k < 3; k++) {
        uint64_t lo = g->stale[k].lo, hi = g->stale[k].hi;
        zero_range(g, lo, hi < a_lo ? hi : a_lo);
        zero_range(g, lo > a_hi ? lo : a_hi, hi < b_lo ? hi : b_lo);
        zero_range(g, lo > b_hi ? lo : b_hi, hi);
    }
    g->stale[0].lo = a_lo, g->stale[0].hi = a_hi;
    g->stale[1].lo = b_lo, g->stale[1].hi = b_hi;
    g->stale[2].lo = p->out, g->stale[2].hi = p->end;
    if (p->end > g->io_hi)
        g->io_hi = p->end;
}

void eh_io_output_scrubbed(eh_guest *g, const eh_io_plan *p, uint64_t n)
{
    if (p->out + n < g->stale[2].hi)
        g->stale[2].hi = p->out + n;
}
