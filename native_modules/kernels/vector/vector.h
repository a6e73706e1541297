/* Vector math on float32 (float64 on request): the kernel ABI, the per-ISA
 * operation tables and the numeric guarantees.
 *
 * Request conventions (eh_offload_req; arrays are little-endian float32 at
 * any address -- no alignment is required, so a call gives the same answer
 * wherever its buffers lie -- each byte length a multiple of 4, else
 * EH_K_EINVAL; flags must be 0 or EH_VEC_F64; n = in_len / 4):
 *   VEC_DOT     in = a, in2 = b (in2_len == in_len)   value = float bits of a.b
 *   VEC_AXPY    in = x, in2 = y (in2_len == in_len), arg[0] = float bits of
 *               alpha; out[i] = alpha*x[i] + y[i], out_len = in_len; out may
 *               be exactly in2 (in place), no other overlap.
 *   VEC_SUM     in = a                                value = sum a[i]
 *   VEC_L2NORM  in = a                                value = sqrt(sum a[i]^2)
 *   VEC_L2SQ    in = a, in2 = b (in2_len == in_len)   value = sum (a[i]-b[i])^2
 *   VEC_COSINE  in = a, in2 = b (in2_len == in_len)   value = a.b / (|a| |b|)
 *               (a zero vector gives NaN, as 0/0 does)
 *   VEC_MATVEC  in = M (rows x cols, row-major), in2 = v (cols floats, cols >
 *               0, in_len a multiple of in2_len); rows = in_len / in2_len;
 *               out = M v (rows floats), value = rows
 *   VEC_TOPK    in = M, in2 = query q, shapes as MATVEC; arg[0] = k,
 *               arg[1] = metric: 0 squared L2 (smallest first), 1 dot
 *               (largest first), 2 cosine (largest first). out = min(k, rows)
 *               records {uint32 row, float32 score}, best first, ties by
 *               lower row, NaN scores last; value = count. rows < 2^32.
 * Scalar results are float32 bit patterns in the low 32 bits of value.
 *
 * flags = EH_VEC_F64: every array is float64 (lengths a multiple of 8),
 * scalar results and AXPY's alpha (arg[0]) are float64 bit patterns, MATVEC
 * writes float64; TOPK has no float64 form (EH_K_EINVAL).
 * out_cap too small -> EH_K_ENOSPC with out_len = bytes needed.
 * Length mismatch -> EH_K_EINVAL.
 *
 * Numbers (u = 2^-24 for float32, 2^-53 for float64; n elements):
 *  - Any input the type can hold gives a result within these bounds of the
 *    exact value; inf comes out only where the exact result exceeds the
 *    type's range or an input is infinite, NaN only from NaN inputs, inf-inf
 *    or 0/0. Subnormal and huge inputs are handled like any others.
 *  - dot, sum, l2sq, matvec rows, top-k scores:
 *        |r - exact| <= 2 n u sum|terms| + 2 s   (s: the type's smallest subnormal)
 *  - l2norm: relative error <= (n/2 + 2) u.  cosine: |r - exact| <= (2n + 4) u,
 *    a vector against itself (or a power-of-two multiple) gives exactly 1.
 *  - axpy: alpha*x[i] + y[i] rounded once (fused, or through float64 for
 *    float32); float64 without FMA (scalar, simd128): within
 *    u (|alpha x[i]| + |result|).
 *  How (vector.c): the ISA kernels accumulate in the input type with
 *  reassociated lanes; a result that is not finite or is so small that
 *  underflow may have cost accuracy (below 2^-100 in float32, 2^-900 in
 *  float64) is recomputed -- float32 ones in float64 (products of floats are
 *  exact there and cannot overflow), float64 ones with each vector scaled by
 *  a power of two (vector_exact.c). Such recomputation is one more pass, taken
 *  only for those inputs (per row for matvec and top-k). */
#ifndef EH_KERNELS_VECTOR_H
#define EH_KERNELS_VECTOR_H
#include <stdint.h>
#include "kernels/dispatch.h"

/* EH_VEC_F64 (eh_offload_req.flags), enum eh_vec_metric and the top-k record
 * eh_vec_topk_rec are tenant ABI: generated from wasm_config/abi.py. */
#include "eh_abi.h"

/* eh_f32 / eh_f64 (dispatch.h): array elements at any address. */

/* The records as written to out (any address). */
typedef eh_vec_topk_rec eh_vec_topk_out __attribute__((aligned(1)));

/* One ISA's float32 implementation (vector_tpl.h). n counts floats. */
typedef struct eh_vec_ops {
    float (*dot)(const eh_f32 *a, const eh_f32 *b, uint64_t n);
    float (*sum)(const eh_f32 *a, uint64_t n);
    float (*sumsq)(const eh_f32 *a, uint64_t n); /* a.a, reading a once */
    float (*l2sq)(const eh_f32 *a, const eh_f32 *b, uint64_t n);
    void (*axpy)(float alpha, const eh_f32 *x, const eh_f32 *y, eh_f32 *out, uint64_t n);
    /* r[0] = a.b, r[1] = a.a, r[2] = b.b in one pass */
    void (*dot3)(const eh_f32 *a, const eh_f32 *b, uint64_t n, float r[3]);
    /* Row scores of m (rows x cols, row-major) against q, into out[rows]:
     * kind EH_VEC_ROWS_DOT m_r.q, EH_VEC_ROWS_L2SQ |m_r - q|^2,
     * EH_VEC_ROWS_NORM2 m_r.m_r (q unused). Several rows per pass so q is
     * loaded once for all and reductions are shared. */
    void (*rows)(int kind, const eh_f32 *m, const eh_f32 *q, uint64_t rows, uint64_t cols,
                 eh_f32 *out);
    /* dot[r] = m_r.q and norm2[r] = m_r.m_r in one pass (cosine top-k). */
    void (*rows_cos)(const eh_f32 *m, const eh_f32 *q, uint64_t rows, uint64_t cols,
                     eh_f32 *dot, eh_f32 *norm2);
} eh_vec_ops;

enum eh_vec_rows_kind { EH_VEC_ROWS_DOT = 0, EH_VEC_ROWS_L2SQ = 1, EH_VEC_ROWS_NORM2 = 2 };

/* The float64 subset: same meanings, n counts doubles. */
typedef struct eh_vec_ops64 {
    double (*dot)(const eh_f64 *a, const eh_f64 *b, uint64_t n);
    double (*sum)(const eh_f64 *a, uint64_t n);
    double (*sumsq)(const eh_f64 *a, uint64_t n);
    double (*l2sq)(const eh_f64 *a, const eh_f64 *b, uint64_t n);
    void (*axpy)(double alpha, const eh_f64 *x, const eh_f64 *y, eh_f64 *out, uint64_t n);
    void (*dot3)(const eh_f64 *a, const eh_f64 *b, uint64_t n, double r[3]);
} eh_vec_ops64;

extern const eh_vec_ops eh_vec_scalar_ops, eh_vec_simd128_ops, eh_vec_avx2_ops,
    eh_vec_avx512_ops;
extern const eh_vec_ops64 eh_vec_scalar_ops64, eh_vec_simd128_ops64, eh_vec_avx2_ops64,
    eh_vec_avx512_ops64;

/* sqrt without libc: one instruction on x86 and wasm. */
static inline double eh_vec_sqrt(double x)
{
#ifdef __x86_64__
    double r;
    __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
    return r;
#else
    return __builtin_sqrt(x);
#endif
}

static inline int eh_vec_finite(double x) { return x - x == 0; }

/* Is a float32 / float64 result of an ISA kernel exact enough as it is?
 * Finite, and not so small that underflowed terms may matter (vector.h). */
static inline int eh_vec_fine32(float r) { return eh_vec_finite(r) && (r >= 0x1p-100f || r <= -0x1p-100f); }
static inline int eh_vec_fine64(double r) { return eh_vec_finite(r) && (r >= 0x1p-900 || r <= -0x1p-900); }

/* a.b / sqrt(a.a b.b) from r = {a.b, a.a, b.b} in float64: one sqrt of the
 * product where it is a normal number (exact +-1 for parallel vectors), else
 * two (no overflow or underflow of the product). */
static inline double eh_vec_cos(const double r[3])
{
    double p = r[1] * r[2];
    if (p >= 0x1p-1022 && p < __builtin_inf())
        return r[0] / eh_vec_sqrt(p);
    return r[0] / (eh_vec_sqrt(r[1]) * eh_vec_sqrt(r[2]));
}

/* The recomputations (vector_exact.c): float32 inputs accumulated in
 * float64; float64 inputs scaled by powers of two. */
double eh_vec_dot_wide(const eh_f32 *a, const eh_f32 *b, uint64_t n);
double eh_vec_sum_wide(const eh_f32 *a, uint64_t n);
double eh_vec_l2sq_wide(const eh_f32 *a, const eh_f32 *b, uint64_t n);
void eh_vec_dot3_wide(const eh_f32 *a, const eh_f32 *b, uint64_t n, double r[3]);
double eh_vec_dot_scaled(const eh_f64 *a, const eh_f64 *b, uint64_t n);
double eh_vec_sum_scaled(const eh_f64 *a, uint64_t n);
double eh_vec_l2sq_scaled(const eh_f64 *a, const eh_f64 *b, uint64_t n);
double eh_vec_norm_scaled(const eh_f64 *a, uint64_t n);
double eh_vec_cos_scaled(const eh_f64 *a, const eh_f64 *b, uint64_t n);

/* 1 when every x[i] is fine (eh_vec_fine32), in one vectorizable pass. */
int eh_vec_all_fine32(const eh_f32 *x, uint64_t n);

/* ops->rows, then each row whose score is not fine recomputed in float64
 * (vector.c): MATVEC and the top-k scores. */
void eh_vec_rows_checked(const eh_vec_ops *ops, int kind, const eh_f32 *m, const eh_f32 *q,
                         uint64_t rows, uint64_t cols, eh_f32 *out);

/* Top-k selection over rows scored by ops (vector_topk.c). out holds k records. */
void eh_vec_topk(const eh_vec_ops *ops, const eh_f32 *m, const eh_f32 *q, uint64_t rows,
                 uint64_t cols, int metric, eh_vec_topk_out *out, uint64_t k);

const char *eh_vector_variant(void);
int eh_vector_set_variant(const char *name);
const char *eh_vector_variant_name(int i);
int eh_vector_variant_ok(int i);

#endif
