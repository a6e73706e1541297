/*
 * STREAM (McCalpin) copy / scale / add / triad over doubles, timed from the
 * inside with the TSC so the same code measures the same way in process and
 * in a KVM guest (rdtsc runs natively in guest ring 3).
 *
 * Request (EH_KERNEL_STREAM):
 *   arg[0] = op: 0 copy  out = in          (16 bytes moved per element)
 *                1 scale out = 3.0 * in    (16)
 *                2 add   out = in + in2    (24)
 *                3 triad out = in + 3.0*in2(24)
 *   arg[1] = repetitions (1..1000, 0 -> 10)
 *   n = in_len / 8 elements; in2_len (add, triad) and out_cap must hold n too.
 * Result: value = fewest TSC ticks of one repetition (STREAM's "best time"),
 *         out_len = n * 8.
 * Invariant: the loops stay loops (no memcpy call), so both sides run this
 * exact code rather than two different libc memcpy implementations.
 */
#include "kernels/dispatch.h"

#define STREAM_SCALAR 3.0


#if defined(__x86_64__)
static inline uint64_t tsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}
#else
static inline uint64_t tsc(void) { return 0; } /* wasm32: no cycle counter; value = 0 */
#endif

#define STREAM_FN __attribute__((noinline, optimize("no-tree-loop-distribute-patterns")))

STREAM_FN static void k_copy(eh_f64 *restrict c, const eh_f64 *restrict a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        c[i] = a[i];
}

STREAM_FN static void k_scale(eh_f64 *restrict b, const eh_f64 *restrict c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        b[i] = STREAM_SCALAR * c[i];
}

STREAM_FN static void k_add(eh_f64 *restrict c, const eh_f64 *restrict a,
                            const eh_f64 *restrict b, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        c[i] = a[i] + b[i];
}

STREAM_FN static void k_triad(eh_f64 *restrict a, const eh_f64 *restrict b,
                              const eh_f64 *restrict c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        a[i] = b[i] + STREAM_SCALAR * c[i];
}

void eh_stream_run(const eh_offload_req *req, eh_offload_res *res)
{
    uint64_t op = req->arg[0], reps = req->arg[1] ? req->arg[1] : 10;
    uint64_t n = req->in_len / 8;
    int two = op == 2 || op == 3;
    if (op > 3 || reps > 1000 || n == 0 || req->out_cap < n * 8 || (two && req->in2_len < n * 8)) {
        res->status = EH_K_EINVAL;
        return;
    }
    const eh_f64 *a = (const eh_f64 *)(uintptr_t)req->in;
    const eh_f64 *b = (const eh_f64 *)(uintptr_t)req->in2;
    eh_f64 *c = (eh_f64 *)(uintptr_t)req->out;
    uint64_t best = ~0ull;
    for (uint64_t r = 0; r < reps; r++) {
        uint64_t t0 = tsc();
        switch (op) {
        case 0: k_copy(c, a, n); break;
        case 1: k_scale(c, a, n); break;
        case 2: k_add(c, a, b, n); break;
        default: k_triad(c, a, b, n); break;
        }
        uint64_t dt = tsc() - t0;
        if (dt < best)
            best = dt;
    }
    res->value = best;
    res->out_len = n * 8;
}
