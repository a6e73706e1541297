/* Vector family: variant table, argument checks (conventions in vector.h),
 * the kernel entry, and the numeric guard: results the ISA kernels may have
 * lost to overflow or underflow are recomputed (vector_exact.c). Checks
 * happen here once, so the per-ISA ops can assume well-formed arrays. */
#include "kernels/vector/vector.h"
#include "kernels/dispatch.h"
#include "kernels/isa/isa.h"

/* Generic first; needs from isa.h (EH_ISA_NEVER where not compiled). */
static const eh_variant_desc variants[] = {
    {"scalar", 0},
    {"simd128", EH_ISA_SIMD128_NEEDS},
    {"avx2", EH_ISA_AVX2_NEEDS},
    {"avx512", EH_ISA_AVX512_NEEDS},
};
/* Index-aligned with variants; a variant this build does not compile is
 * never runnable, and its slot holds the scalar tables. */
#if EH_ISA_COMPILED(EH_ISA_SIMD128)
#define SIMD128_OPS &eh_vec_simd128_ops, &eh_vec_simd128_ops64
#else
#define SIMD128_OPS &eh_vec_scalar_ops, &eh_vec_scalar_ops64
#endif
#if EH_ISA_X86
#define AVX2_OPS &eh_vec_avx2_ops, &eh_vec_avx2_ops64
#define AVX512_OPS &eh_vec_avx512_ops, &eh_vec_avx512_ops64
#else
#define AVX2_OPS &eh_vec_scalar_ops, &eh_vec_scalar_ops64
#define AVX512_OPS &eh_vec_scalar_ops, &eh_vec_scalar_ops64
#endif
static const struct {
    const eh_vec_ops *f32;
    const eh_vec_ops64 *f64;
} tables[] = {{&eh_vec_scalar_ops, &eh_vec_scalar_ops64}, {SIMD128_OPS}, {AVX2_OPS}, {AVX512_OPS}};
#define NVAR ((int)(sizeof variants / sizeof variants[0]))
_Static_assert(sizeof variants / sizeof variants[0] == sizeof tables / sizeof tables[0],
               "variants and tables are index-aligned");

EH_VARIANT_STATE(vector)

void eh_vector_init(uint64_t cpu, const char *force)
{
    variant_init(cpu, force);
}

/* The bits of x read as type T (same size): results and alpha cross the ABI as bits. */
#define AS(T, x) (((union { __typeof__(x) from; T to; }){.from = (x)}).to)

/* The float32 results, recomputed in float64 where the fast one is not fine. */
static float dot32(const eh_vec_ops *ops, const eh_f32 *a, const eh_f32 *b, uint64_t n)
{
    float r = ops->dot(a, b, n);
    return eh_vec_fine32(r) ? r : (float)eh_vec_dot_wide(a, b, n);
}

static float l2sq32(const eh_vec_ops *ops, const eh_f32 *a, const eh_f32 *b, uint64_t n)
{
    float r = ops->l2sq(a, b, n);
    return eh_vec_fine32(r) ? r : (float)eh_vec_l2sq_wide(a, b, n);
}

static float cos32(const eh_vec_ops *ops, const eh_f32 *a, const eh_f32 *b, uint64_t n)
{
    float f[3];
    ops->dot3(a, b, n, f);
    double r[3] = {f[0], f[1], f[2]};
    if (!(eh_vec_fine32(f[1]) && eh_vec_fine32(f[2]) && eh_vec_finite(f[0])))
        eh_vec_dot3_wide(a, b, n, r);
    return (float)eh_vec_cos(r);
}

int eh_vec_all_fine32(const eh_f32 *x, uint64_t n)
{
    /* On the magnitude's bits, fine is one unsigned range: [bits of 2^-100,
     * bits of FLT_MAX] (inf and NaN lie above). Branch-free integer work the
     * compiler vectorizes; random signs would defeat a branchy version. */
    const uint32_t lo = (127 - 100) << 23, hi = 0x7f7fffffu;
    uint32_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        __builtin_memcpy(&u, (const void *)&x[i], 4);
        bad |= ((u & 0x7fffffffu) - lo) > hi - lo;
    }
    return !bad;
}

/* Row scores of MATVEC and top-k (kind: enum eh_vec_rows_kind, q unused for
 * NORM2) computed by ops->rows, then recomputed row by row where not fine
 * (one vectorized scan finds whether any is). */
void eh_vec_rows_checked(const eh_vec_ops *ops, int kind, const eh_f32 *m, const eh_f32 *q,
                         uint64_t rows, uint64_t cols, eh_f32 *out)
{
    ops->rows(kind, m, q, rows, cols, out);
    if (eh_vec_all_fine32(out, rows))
        return;
    for (uint64_t r = 0; r < rows; r++) {
        if (eh_vec_fine32(out[r]))
            continue;
        const eh_f32 *row = m + r * cols;
        out[r] = (float)(kind == EH_VEC_ROWS_L2SQ ? eh_vec_l2sq_wide(row, q, cols)
                         : kind == EH_VEC_ROWS_DOT ? eh_vec_dot_wide(row, q, cols)
                                                   : eh_vec_dot_wide(row, row, cols));
    }
}

/* An array argument: a whole number of elements (any address). */
static inline int array_ok(uint64_t len, uint64_t size) { return !(len & (size - 1)); } /* size 4 or 8 */

static double dot64(const eh_vec_ops64 *ops, const eh_f64 *a, const eh_f64 *b, uint64_t n)
{
    double r = ops->dot(a, b, n);
    return eh_vec_fine64(r) ? r : eh_vec_dot_scaled(a, b, n);
}

/* The float64 forms (flags == EH_VEC_F64); arguments checked like float32. */
static void run64(const eh_vec_ops64 *ops, const eh_offload_req *req, eh_offload_res *res)
{
    const eh_f64 *a = (const eh_f64 *)(uintptr_t)req->in, *b = (const eh_f64 *)(uintptr_t)req->in2;
    uint64_t n = req->in_len / 8;
    switch (req->kernel) {
    case EH_KERNEL_VEC_DOT:
        res->value = AS(uint64_t, dot64(ops, a, b, n));
        return;
    case EH_KERNEL_VEC_SUM: {
        double r = ops->sum(a, n);
        res->value = AS(uint64_t, eh_vec_finite(r) ? r : eh_vec_sum_scaled(a, n));
        return;
    }
    case EH_KERNEL_VEC_L2NORM: {
        double r = ops->sumsq(a, n);
        res->value = AS(uint64_t, eh_vec_fine64(r) ? eh_vec_sqrt(r) : eh_vec_norm_scaled(a, n));
        return;
    }
    case EH_KERNEL_VEC_L2SQ: {
        double r = ops->l2sq(a, b, n);
        res->value = AS(uint64_t, eh_vec_fine64(r) ? r : eh_vec_l2sq_scaled(a, b, n));
        return;
    }
    case EH_KERNEL_VEC_COSINE: {
        double r[3];
        ops->dot3(a, b, n, r);
        int fine = eh_vec_fine64(r[1]) && eh_vec_fine64(r[2]) && eh_vec_finite(r[0]);
        res->value = AS(uint64_t, fine ? eh_vec_cos(r) : eh_vec_cos_scaled(a, b, n));
        return;
    }
    case EH_KERNEL_VEC_MATVEC: {
        uint64_t cols = req->in2_len / 8, rows = req->in_len / req->in2_len;
        res->out_len = rows * 8;
        if (req->out_cap < rows * 8) {
            res->status = EH_K_ENOSPC;
            return;
        }
        eh_f64 *out = (eh_f64 *)(uintptr_t)req->out;
        for (uint64_t r = 0; r < rows; r++)
            out[r] = dot64(ops, a + r * cols, b, cols);
        res->value = rows;
        return;
    }
    default:
        res->status = EH_K_ENOTSUP;
        return;
    }
}

static void matrix_kernel(const eh_vec_ops *ops, const eh_offload_req *req, eh_offload_res *res)
{
    const eh_f32 *m = (const eh_f32 *)(uintptr_t)req->in, *v = (const eh_f32 *)(uintptr_t)req->in2;
    uint64_t cols = req->in2_len / 4, rows = req->in_len / req->in2_len;
    if (req->kernel == EH_KERNEL_VEC_MATVEC) {
        res->out_len = rows * 4;
        if (req->out_cap < rows * 4) {
            res->status = EH_K_ENOSPC;
            return;
        }
        eh_vec_rows_checked(ops, EH_VEC_ROWS_DOT, m, v, rows, cols,
                            (eh_f32 *)(uintptr_t)req->out);
        res->value = rows;
        return;
    }
    uint64_t k = req->arg[0] < rows ? req->arg[0] : rows;
    if (req->arg[1] > EH_VEC_COSINE || rows > 0xffffffffu) {
        res->status = EH_K_EINVAL;
        return;
    }
    res->out_len = k * sizeof(eh_vec_topk_rec);
    if (req->out_cap < res->out_len) {
        res->status = EH_K_ENOSPC;
        return;
    }
    eh_vec_topk(ops, m, v, rows, cols, (int)req->arg[1], (eh_vec_topk_out *)(uintptr_t)req->out,
                k);
    res->value = k;
}

void eh_vector_run(const eh_offload_req *req, eh_offload_res *res)
{
    int v = cur();
    const int f64 = req->flags == EH_VEC_F64;
    const uint64_t size = f64 ? 8 : 4;
    const int kernel = (int)req->kernel;
    int two = kernel != EH_KERNEL_VEC_SUM && kernel != EH_KERNEL_VEC_L2NORM;
    int matrix = kernel == EH_KERNEL_VEC_MATVEC || kernel == EH_KERNEL_VEC_TOPK;
    if ((req->flags && !f64) || (f64 && kernel == EH_KERNEL_VEC_TOPK) ||
        !array_ok(req->in_len, size) || (two && !array_ok(req->in2_len, size)) ||
        (two && !matrix && req->in2_len != req->in_len) ||
        (matrix && (req->in2_len == 0 || req->in_len % req->in2_len)) ||
        (kernel == EH_KERNEL_VEC_AXPY && !f64 && req->arg[0] > 0xffffffffu)) {
        res->status = EH_K_EINVAL;
        return;
    }
    if (kernel == EH_KERNEL_VEC_AXPY) {
        res->out_len = req->in_len;
        if (req->out_cap < req->in_len) {
            res->status = EH_K_ENOSPC;
            return;
        }
        void *out = (void *)(uintptr_t)req->out;
        const void *x = (const void *)(uintptr_t)req->in, *y = (const void *)(uintptr_t)req->in2;
        if (f64)
            tables[v].f64->axpy(AS(double, req->arg[0]), x, y, out, req->in_len / 8);
        else
            tables[v].f32->axpy(AS(float, (uint32_t)req->arg[0]), x, y, out, req->in_len / 4);
        return;
    }
    if (f64) {
        run64(tables[v].f64, req, res);
        return;
    }
    const eh_vec_ops *ops = tables[v].f32;
    const eh_f32 *a = (const eh_f32 *)(uintptr_t)req->in, *b = (const eh_f32 *)(uintptr_t)req->in2;
    uint64_t n = req->in_len / 4;
    switch (kernel) {
    case EH_KERNEL_VEC_DOT:
        res->value = AS(uint32_t, dot32(ops, a, b, n));
        return;
    case EH_KERNEL_VEC_SUM: {
        float r = ops->sum(a, n);
        res->value = AS(uint32_t, eh_vec_finite(r) ? r : (float)eh_vec_sum_wide(a, n));
        return;
    }
    case EH_KERNEL_VEC_L2NORM: {
        float r = ops->sumsq(a, n);
        res->value = AS(uint32_t, eh_vec_fine32(r) ? (float)eh_vec_sqrt(r)
                                            : (float)eh_vec_sqrt(eh_vec_dot_wide(a, a, n)));
        return;
    }
    case EH_KERNEL_VEC_L2SQ:
        res->value = AS(uint32_t, l2sq32(ops, a, b, n));
        return;
    case EH_KERNEL_VEC_COSINE:
        res->value = AS(uint32_t, cos32(ops, a, b, n));
        return;
    case EH_KERNEL_VEC_MATVEC:
    case EH_KERNEL_VEC_TOPK:
        matrix_kernel(ops, req, res);
        return;
    default:
        res->status = EH_K_ENOTSUP;
        return;
    }
}
