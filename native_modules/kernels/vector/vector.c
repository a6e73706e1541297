/* Vector family: variant table, argument checks (conventions in vector.h),
 * and the kernel entry. Checks happen here once, so the per-ISA ops can
 * assume well-formed, 4-byte aligned arrays. */
#include "kernels/vector/vector.h"
#include "kernels/dispatch.h"

static const eh_variant_desc variants[] = {
    {"scalar", 0},
#ifdef __x86_64__
    {"avx2", EH_CPU_AVX2 | EH_CPU_FMA},
    {"avx512", EH_CPU_AVX512F | EH_CPU_FMA},
#endif
#ifdef __wasm_simd128__
    {"simd128", 0}, /* compiled in only where the target has it */
#endif
};
static const eh_vec_ops *const tables[] = {
    &eh_vec_scalar_ops,
#ifdef __x86_64__
    &eh_vec_avx2_ops,
    &eh_vec_avx512_ops,
#endif
#ifdef __wasm_simd128__
    &eh_vec_simd128_ops,
#endif
};
/* float64 ops per variant (index-aligned; simd128 has no float64 table of its own). */
static const eh_vec_ops64 *const tables64[] = {
    &eh_vec_scalar_ops64,
#ifdef __x86_64__
    &eh_vec_avx2_ops64,
    &eh_vec_avx512_ops64,
#endif
#ifdef __wasm_simd128__
    &eh_vec_scalar_ops64,
#endif
};
#define NVAR ((int)(sizeof variants / sizeof variants[0]))
_Static_assert(sizeof tables64 / sizeof tables64[0] == sizeof tables / sizeof tables[0],
               "tables64 and tables are index-aligned");
_Static_assert(sizeof variants / sizeof variants[0] == sizeof tables / sizeof tables[0],
               "variants and tables are index-aligned");

EH_VARIANT_STATE(vector)

void eh_vector_init(uint64_t cpu, const char *force)
{
    variant_init(cpu, force);
}

static inline uint64_t fbits(float f)
{
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    return u;
}

static inline float bitsf(uint32_t u)
{
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

static inline uint64_t dbits(double f)
{
    uint64_t u;
    __builtin_memcpy(&u, &f, 8);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double f;
    __builtin_memcpy(&f, &u, 8);
    return f;
}

/* A float array argument: a whole number of floats at a 4-byte aligned
 * address; an empty array's address does not matter (nothing is accessed). */
static inline int farray_ok(uint64_t addr, uint64_t len)
{
    return !(len & 3) && (len == 0 || !(addr & 3));
}

/* A double array argument: the same rule at 8 bytes. */
static inline int darray_ok(uint64_t addr, uint64_t len)
{
    return !(len & 7) && (len == 0 || !(addr & 7));
}

/* a.b / (|a| |b|): one sqrt of the product where it is finite and non-zero
 * (exact +-1 for parallel vectors), else two (no overflow or underflow). */
static double cos64(const double r[3])
{
    double p = r[1] * r[2];
    if (p > 0 && p < __builtin_inf() && p >= 0x1p-1022)
        return r[0] / eh_vec_sqrt(p);
    return r[0] / (eh_vec_sqrt(r[1]) * eh_vec_sqrt(r[2]));
}

/* The float64 forms (flags == EH_VEC_F64); arguments checked like float32. */
static void run64(const eh_vec_ops64 *ops, const eh_offload_req *req, eh_offload_res *res)
{
    const double *a = (const double *)(uintptr_t)req->in, *b = (const double *)(uintptr_t)req->in2;
    uint64_t n = req->in_len / 8;
    int two = req->kernel != EH_KERNEL_VEC_SUM && req->kernel != EH_KERNEL_VEC_L2NORM;
    int paired = two && req->kernel != EH_KERNEL_VEC_MATVEC;
    if (req->kernel == EH_KERNEL_VEC_TOPK || !darray_ok(req->in, req->in_len) ||
        (two && !darray_ok(req->in2, req->in2_len)) || (paired && req->in2_len != req->in_len)) {
        res->status = EH_K_EINVAL;
        return;
    }
    switch (req->kernel) {
    case EH_KERNEL_VEC_DOT:
        res->value = dbits(ops->dot(a, b, n));
        return;
    case EH_KERNEL_VEC_SUM:
        res->value = dbits(ops->sum(a, n));
        return;
    case EH_KERNEL_VEC_L2NORM:
        res->value = dbits(eh_vec_sqrt(ops->dot(a, a, n)));
        return;
    case EH_KERNEL_VEC_L2SQ:
        res->value = dbits(ops->l2sq(a, b, n));
        return;
    case EH_KERNEL_VEC_COSINE: {
        double r[3];
        ops->dot3(a, b, n, r);
        res->value = dbits(cos64(r));
        return;
    }
    case EH_KERNEL_VEC_AXPY:
        res->out_len = req->in_len;
        if (!darray_ok(req->out, req->in_len)) {
            res->status = EH_K_EINVAL;
            return;
        }
        if (req->out_cap < req->in_len) {
            res->status = EH_K_ENOSPC;
            return;
        }
        ops->axpy(bitsd(req->arg[0]), a, b, (double *)(uintptr_t)req->out, n);
        return;
    case EH_KERNEL_VEC_MATVEC: {
        if (req->in2_len == 0 || req->in_len % req->in2_len) {
            res->status = EH_K_EINVAL;
            return;
        }
        uint64_t cols = req->in2_len / 8, rows = req->in_len / req->in2_len;
        res->out_len = rows * 8;
        if (!darray_ok(req->out, rows * 8)) {
            res->status = EH_K_EINVAL;
            return;
        }
        if (req->out_cap < rows * 8) {
            res->status = EH_K_ENOSPC;
            return;
        }
        double *out = (double *)(uintptr_t)req->out;
        for (uint64_t r = 0; r < rows; r++)
            out[r] = ops->dot(a + r * cols, b, cols);
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
    if (req->in2_len == 0 || req->in_len % req->in2_len) {
        res->status = EH_K_EINVAL;
        return;
    }
    const float *m = (const float *)(uintptr_t)req->in, *v = (const float *)(uintptr_t)req->in2;
    uint64_t cols = req->in2_len / 4, rows = req->in_len / req->in2_len;
    if (req->kernel == EH_KERNEL_VEC_MATVEC) {
        if (req->out_cap < rows * 4 || !farray_ok(req->out, rows * 4)) {
            res->status = req->out_cap < rows * 4 ? EH_K_ENOSPC : EH_K_EINVAL;
            res->out_len = rows * 4;
            return;
        }
        ops->rows(EH_VEC_ROWS_DOT, m, v, rows, cols, (float *)(uintptr_t)req->out);
        res->out_len = rows * 4;
        res->value = rows;
        return;
    }
    uint64_t k = req->arg[0] < rows ? req->arg[0] : rows;
    if (req->arg[1] > EH_VEC_COSINE || rows > 0xffffffffu ||
        !farray_ok(req->out, k * sizeof(eh_vec_topk_rec))) {
        res->status = EH_K_EINVAL;
        return;
    }
    res->out_len = k * sizeof(eh_vec_topk_rec);
    if (req->out_cap < res->out_len) {
        res->status = EH_K_ENOSPC;
        return;
    }
    eh_vec_topk(ops, m, v, rows, cols, (int)req->arg[1], (eh_vec_topk_rec *)(uintptr_t)req->out, k);
    res->value = k;
}

void eh_vector_run(const eh_offload_req *req, eh_offload_res *res)
{
    int v = cur();
    const eh_vec_ops *ops = tables[v];
    const float *a = (const float *)(uintptr_t)req->in, *b = (const float *)(uintptr_t)req->in2;
    uint64_t n = req->in_len / 4;
    int two = req->kernel != EH_KERNEL_VEC_SUM && req->kernel != EH_KERNEL_VEC_L2NORM;
    int paired = two && req->kernel != EH_KERNEL_VEC_MATVEC && req->kernel != EH_KERNEL_VEC_TOPK;
    if (req->flags == EH_VEC_F64) {
        run64(tables64[v], req, res);
        return;
    }
    if (req->flags || !farray_ok(req->in, req->in_len) ||
        (two && !farray_ok(req->in2, req->in2_len)) || (paired && req->in2_len != req->in_len)) {
        res->status = EH_K_EINVAL;
        return;
    }
    switch (req->kernel) {
    case EH_KERNEL_VEC_DOT:
        res->value = fbits(ops->dot(a, b, n));
        return;
    case EH_KERNEL_VEC_SUM:
        res->value = fbits(ops->sum(a, n));
        return;
    case EH_KERNEL_VEC_L2NORM:
        res->value = fbits(eh_vec_sqrtf(ops->dot(a, a, n)));
        return;
    case EH_KERNEL_VEC_L2SQ:
        res->value = fbits(ops->l2sq(a, b, n));
        return;
    case EH_KERNEL_VEC_COSINE: {
        float r[3];
        ops->dot3(a, b, n, r);
        res->value = fbits(eh_vec_cos(r));
        return;
    }
    case EH_KERNEL_VEC_AXPY:
        res->out_len = req->in_len;
        if (req->arg[0] > 0xffffffffu || !farray_ok(req->out, req->in_len)) {
            res->status = EH_K_EINVAL;
            return;
        }
        if (req->out_cap < req->in_len) {
            res->status = EH_K_ENOSPC;
            return;
        }
        ops->axpy(bitsf((uint32_t)req->arg[0]), a, b, (float *)(uintptr_t)req->out, n);
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
