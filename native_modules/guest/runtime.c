/*
 * Guest runtime (ring 3): initialise the kernels, then serve calls from the
 * call window forever. See include/eh_guest_layout.h for the protocol.
 *
 * Invariants:
 *  - The serving loop keeps no state in memory across calls: everything it
 *    needs is in the window (req_seq/done_seq), so the monitor may reset the
 *    guest to its post-init snapshot at any exit and the loop simply resumes.
 *  - Nothing a call does outlives it on the warm (exit-less) path, within
 *    the kernel contract (a kernel reads its inputs, writes its output range
 *    and its own stack frames):
 *      .data/.bss   read-only from EH_DONE_INIT on (the monitor
 *                   write-protects them): no call can write them at all;
 *      the stack    after each call, before the next can be seen, the dead
 *                   stack the call wrote is zeroed (eh_scrub_stack_touched:
 *                   its cost follows the call's depth, not the stack size);
 *      registers    vector and mask registers are cleared; general ones are
 *                   the loop's own;
 *      scratch      a kernel op's output range past its result is zeroed
 *                   here, before the call completes (scrub_output: its lines
 *                   are in this core's cache, and most were never written);
 *                   the monitor zeroes the rest of the I/O ranges -- inputs
 *                   it copied, the result it copied out -- before the next
 *                   call (vmm/io_plan.c).
 *    The monitor's authoritative reset (dirty pages + registers) runs
 *    whenever the guest parks, after a timeout, and at least every 1024
 *    warm calls / 50 ms, bounding what a kernel subverted by its input
 *    could keep outside that contract.
 *  - The only exits are writes to the exit page at EH_PORT_DONE / LOG / ABORT.
 *
 * Built twice: the runtime with every kernel, and (EH_GUEST_DOORBELL) the
 * bench image whose loop only answers the doorbell -- the same protocol with
 * no kernel and nothing to scrub: the floor of any warm call on this machine.
 */
#include <stdint.h>
#include "eh_guest_layout.h"
#include "kernels/dispatch.h"

#define W ((eh_call_window *)EH_GL_WINDOW)

/* The image's layout note (see EH_GL_LAYOUT_ID): an ELF note the monitor
 * reads before it boots the image, refusing one built from another header. */
__attribute__((section(".note.edgehost"), aligned(4), used))
static const struct {
    uint32_t namesz, descsz, type;
    char name[12];       /* EH_GL_NOTE_NAME + NUL, padded to 4 bytes */
    uint32_t desc[2];    /* EH_GL_LAYOUT_ID, low word first          */
} layout_note = {sizeof EH_GL_NOTE_NAME, 8, EH_GL_NOTE_LAYOUT, EH_GL_NOTE_NAME,
                 {(uint32_t)EH_GL_LAYOUT_ID, (uint32_t)(EH_GL_LAYOUT_ID >> 32)}};
_Static_assert(sizeof EH_GL_NOTE_NAME <= 12, "note name fits");

#ifndef EH_GUEST_STACK_GAP
#error "build_guest.py passes EH_GUEST_STACK_GAP (largest frame + red zone + alignment)"
#endif

/* One exit to the monitor. The compiler barriers keep every window write
 * before it (x86 stores are not reordered with the MMIO store itself). */
static inline void eh_out(uint32_t port, uint32_t val)
{
    __asm__ volatile("" ::: "memory");
    EH_GUEST_EXIT(port, val);
    __asm__ volatile("" ::: "memory");
}

static inline uint64_t eh_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

void eh_scrub_stack(uint64_t base);                       /* start.S */
void eh_scrub_stack_touched(uint64_t base, uint64_t gap); /* start.S */

#ifdef EH_GUEST_DOORBELL
static int serve(eh_call_window *w)
{
    w->res.status = EH_K_OK;
    return 0;
}
static void scrub(eh_call_window *w) { (void)w; }
static void init(eh_call_window *w) { (void)w; }
#else
/* Test images override this (test_ops.c); the production image has no test ops. */
__attribute__((weak)) void eh_guest_test_op(eh_call_window *w)
{
    w->res.status = EH_K_ENOTSUP;
}

/* Zeroes the output range past the result, [out + min(out_len, out_cap),
 * out + out_cap): what a kernel used as working memory (JSON's depth stack
 * in a 136 KiB range whose result is 16 bytes) or left from an earlier call.
 * Reads first and writes only lines that are not zero: most of a large
 * output room is never written, and a store would dirty it for nothing. The
 * range is the monitor's (scratch, io_plan.c), not the kernel's to choose. */
static void scrub_output(const eh_call_window *w)
{
    uint64_t cap = w->req.out_cap, used = w->res.out_len < cap ? w->res.out_len : cap;
    uint8_t *p = (uint8_t *)(uintptr_t)(w->req.out + used), *end = p + (cap - used);
    for (; p < end && ((uintptr_t)p & 63); p++)
        *p = 0;
    for (; p + 64 <= end; p += 64) {
        uint64_t *q = (uint64_t *)p, any = 0;
        for (int i = 0; i < 8; i++)
            any |= q[i];
        if (any)
            for (int i = 0; i < 8; i++)
                q[i] = 0;
    }
    for (; p < end; p++)
        *p = 0;
}

/* Runs the posted op; 1 when its output range past the result is zeroed. */
static int serve(eh_call_window *w)
{
    switch (w->op) {
    case EH_OP_OFFLOAD:
        eh_kernel_run(&w->req, &w->res);
        scrub_output(w);
        return 1;
    case EH_OP_REPEAT:
        for (uint32_t i = 0; i < w->repeat; i++)
            eh_kernel_run(&w->req, &w->res);
        scrub_output(w);
        return 1;
    case EH_OP_PING:
        for (uint64_t i = 0; i < w->req.arg[0]; i++)
            eh_out(EH_PORT_DONE, EH_DONE_PING);
        return 0;
    default:
        eh_guest_test_op(w);
        return 0;
    }
}

__attribute__((target("avx512f"))) static void clear_avx512(void)
{
    __asm__ volatile(
        "vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
        "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
        "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
        "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
        "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
        "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
        "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
        "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
        "kxorw %%k0, %%k0, %%k0\n\tkxorw %%k1, %%k1, %%k1\n\tkxorw %%k2, %%k2, %%k2\n\t"
        "kxorw %%k3, %%k3, %%k3\n\tkxorw %%k4, %%k4, %%k4\n\tkxorw %%k5, %%k5, %%k5\n\t"
        "kxorw %%k6, %%k6, %%k6\n\tkxorw %%k7, %%k7, %%k7\n\tvzeroall" ::: "memory");
}

__attribute__((target("avx"))) static void clear_avx(void)
{
    __asm__ volatile("vzeroall" ::: "memory");
}

static void clear_sse(void)
{
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
                     "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
                     "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tpxor %%xmm8, %%xmm8\n\t"
                     "pxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
                     "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\t"
                     "pxor %%xmm15, %%xmm15" ::: "memory");
}

/* Warm-path scrub of the registers; see the invariants at the top. */
__attribute__((noinline)) static void scrub(eh_call_window *w)
{
    if (w->cpu_features & EH_CPU_AVX512F)
        clear_avx512();
    else if (w->cpu_features & EH_CPU_AVX2)
        clear_avx();
    else
        clear_sse();
}

static void init(eh_call_window *w)
{
    eh_kernels_init_with(w->cpu_features, w->variant[0] ? w->variant : (const char *)0);
}
#endif

__attribute__((noreturn)) static void serve_forever(void)
{
    eh_call_window *w = W;
    for (;;) {
        uint64_t t0 = eh_rdtsc();
        while (__atomic_load_n(&w->req_seq, __ATOMIC_ACQUIRE) ==
               __atomic_load_n(&w->done_seq, __ATOMIC_RELAXED)) {
            __builtin_ia32_pause();
            if (eh_rdtsc() - t0 >= w->spin_tsc) {
                eh_out(EH_PORT_DONE, EH_DONE_IDLE);
                t0 = eh_rdtsc();
            }
        }
        uint64_t seq = __atomic_load_n(&w->req_seq, __ATOMIC_ACQUIRE);
        w->taken_seq = seq; /* back at the doorbell: the host's hint (call.c) */
        if (serve(w))
            w->scrubbed_seq = seq;
        __atomic_store_n(&w->done_seq, seq, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint64_t t1 = eh_rdtsc();
        /* Wait for the host to take the result, or give the core back. With
         * no idle window the guest is about to exit anyway: only wake a
         * sleeping host. */
        if (!w->spin_tsc && __atomic_load_n(&w->host_waiting, __ATOMIC_RELAXED))
            eh_out(EH_PORT_DONE, EH_DONE_CALL);
        for (; w->spin_tsc;) {
            if (__atomic_load_n(&w->host_waiting, __ATOMIC_RELAXED) ||
                eh_rdtsc() - t1 >= w->ack_tsc) {
                eh_out(EH_PORT_DONE, EH_DONE_CALL);
                break;
            }
            if (__atomic_load_n(&w->host_ack, __ATOMIC_ACQUIRE) == seq)
                break;
            __builtin_ia32_pause();
        }
        scrub(w);
#ifndef EH_GUEST_DOORBELL
        /* Last, straight from the loop's frame: every stack byte below it
         * belonged to the call or to scrub() (a helper's frame would keep
         * the bytes it covers). */
        eh_scrub_stack_touched(EH_GL_STACK_BASE, EH_GUEST_STACK_GAP);
#endif
    }
}

__attribute__((noreturn)) void eh_guest_main(void)
{
    eh_call_window *w = W;
    init(w);
    eh_scrub_stack(EH_GL_STACK_BASE); /* the snapshot holds no init leftovers */
    eh_out(EH_PORT_DONE, EH_DONE_INIT); /* the monitor snapshots here */
    serve_forever();
}
