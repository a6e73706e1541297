/* Vector math on float32 (float64 on request): the kernel ABI and the per-ISA
 * operation tables.
 *
 * Request conventions (eh_offload_req; every array is float32, little-endian,
 * 4-byte aligned unless empty, its byte length a multiple of 4, else
 * EH_K_EINVAL; flags must be 0 or EH_VEC_F64; n = in_len / 4):
 *   VEC_DOT     in = a, in2 = b (in2_len == in_len)   value = float bits of a.b
 *   VEC_AXPY    in = x, in2 = y (in2_len == in_len), arg[0] = float bits of
 *               alpha; out[i] = alpha*x[i] + y[i] (may be fused), out_len =
 *               in_len; out may be exactly in2 (in place), no other overlap.
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
 *               lower row, NaN scores last; value = count.
 * Scalar results are float32 bit patterns in the low 32 bits of value.
 *
 * flags = EH_VEC_F64: every array is float64 (8-byte aligned, lengths a
 * multiple of 8), scalar results and AXPY's alpha (arg[0]) are float64 bit
 * patterns, MATVEC writes float64; TOPK has no float64 form (EH_K_EINVAL).
 * out_cap too small -> EH_K_ENOSPC with out_len = bytes needed.
 * IEEE semantics: NaN and inf propagate as the arithmetic does (sums are
 * reassociated across SIMD lanes, so results match a sequential sum only to
 * rounding). Length mismatch -> EH_K_EINVAL. */
#ifndef EH_KERNELS_VECTOR_H
#define EH_KERNELS_VECTOR_H
#include <stdint.h>

#define EH_VEC_F64 1u /* eh_offload_req.flags */

enum eh_vec_metric { EH_VEC_L2SQ = 0, EH_VEC_DOT = 1, EH_VEC_COSINE = 2 };

typedef struct eh_vec_topk_rec {
    uint32_t row;
    float score;
} eh_vec_topk_rec;

/* One ISA's implementation. n counts floats; pointers are 4-byte aligned. */
typedef struct eh_vec_ops {
    float (*dot)(const float *a, const float *b, uint64_t n);
    float (*sum)(const float *a, uint64_t n);
    float (*l2sq)(const float *a, const float *b, uint64_t n);
    void (*axpy)(float alpha, const float *x, const float *y, float *out, uint64_t n);
    /* r[0] = a.b, r[1] = a.a, r[2] = b.b in one pass */
    void (*dot3)(const float *a, const float *b, uint64_t n, float r[3]);
    /* Row scores of m (rows x cols, row-major) against q, into out[rows]:
     * kind EH_VEC_ROWS_DOT m_r.q, EH_VEC_ROWS_L2SQ |m_r - q|^2,
     * EH_VEC_ROWS_NORM2 m_r.m_r (q unused). SIMD variants score several rows
     * per pass so q is loaded once for all and reductions are shared. */
    void (*rows)(int kind, const float *m, const float *q, uint64_t rows, uint64_t cols,
                 float *out);
    /* dot[r] = m_r.q and norm2[r] = m_r.m_r in one pass (cosine top-k). */
    void (*rows_cos)(const float *m, const float *q, uint64_t rows, uint64_t cols, float *dot,
                     float *norm2);
} eh_vec_ops;

enum eh_vec_rows_kind { EH_VEC_ROWS_DOT = 0, EH_VEC_ROWS_L2SQ = 1, EH_VEC_ROWS_NORM2 = 2 };

/* rows() one row at a time through ops->dot / ops->l2sq (vector_topk.c). */
void eh_vec_rows_generic(const struct eh_vec_ops *ops, int kind, const float *m, const float *q,
                         uint64_t rows, uint64_t cols, float *out);
void eh_vec_rows_cos_generic(const struct eh_vec_ops *ops, const float *m, const float *q,
                             uint64_t rows, uint64_t cols, float *dot, float *norm2);

/* The float64 subset: same meanings, n counts doubles, 8-byte aligned. */
typedef struct eh_vec_ops64 {
    double (*dot)(const double *a, const double *b, uint64_t n);
    double (*sum)(const double *a, uint64_t n);
    double (*l2sq)(const double *a, const double *b, uint64_t n);
    void (*axpy)(double alpha, const double *x, const double *y, double *out, uint64_t n);
    void (*dot3)(const double *a, const double *b, uint64_t n, double r[3]);
} eh_vec_ops64;

extern const eh_vec_ops64 eh_vec_scalar_ops64, eh_vec_avx2_ops64, eh_vec_avx512_ops64;

extern const eh_vec_ops eh_vec_scalar_ops, eh_vec_avx2_ops, eh_vec_avx512_ops,
    eh_vec_simd128_ops;

/* sqrt without libc: one instruction on x86 and wasm. */
static inline float eh_vec_sqrtf(float x)
{
#ifdef __x86_64__
    float r;
    __asm__("sqrtss %1, %0" : "=x"(r) : "x"(x));
    return r;
#else
    return __builtin_sqrtf(x);
#endif
}

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

/* Cosine from a.b, a.a, b.b: combined in double, so |a|^2 |b|^2 cannot
 * overflow and parallel vectors give exactly +-1 where float32 sqrt would not. */
static inline float eh_vec_cos(const float r[3])
{
    return (float)((double)r[0] / eh_vec_sqrt((double)r[1] * (double)r[2]));
}

/* Top-k selection over rows scored by ops (vector_topk.c). out holds k records. */
void eh_vec_topk(const eh_vec_ops *ops, const float *m, const float *q, uint64_t rows,
                 uint64_t cols, int metric, eh_vec_topk_rec *out, uint64_t k);

const char *eh_vector_variant(void);
int eh_vector_set_variant(const char *name);
const char *eh_vector_variant_name(int i);
int eh_vector_variant_ok(int i);

#endif
