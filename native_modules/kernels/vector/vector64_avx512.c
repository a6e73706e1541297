/* AVX512 float64 vector ops: four zmm partial sums per step
 * (masked tail loads); the float64 twin of vector_avx512.c. */
#ifdef __x86_64__
#pragma GCC target("avx512f,fma")
#include <immintrin.h>
#include "kernels/vector/vector.h"

#define W 8

static inline __mmask8 tail_mask(uint64_t left) { return (__mmask8)((1u << left) - 1u); }

static inline __m512d sqd(__m512d s, __m512d x, __m512d y)
{
    __m512d d = _mm512_sub_pd(x, y);
    return _mm512_fmadd_pd(d, d, s);
}

static double dot(const double *a, const double *b, uint64_t n)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i), s0);
        s1 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i + W), _mm512_loadu_pd(b + i + W), s1);
        s2 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i + 2 * W), _mm512_loadu_pd(b + i + 2 * W), s2);
        s3 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i + 3 * W), _mm512_loadu_pd(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i), s0);
    if (i < n) {
        __mmask8 m = tail_mask(n - i);
        s1 = _mm512_fmadd_pd(_mm512_maskz_loadu_pd(m, a + i), _mm512_maskz_loadu_pd(m, b + i), s1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
}

static double sum(const double *a, uint64_t n)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm512_add_pd(_mm512_loadu_pd(a + i), s0);
        s1 = _mm512_add_pd(_mm512_loadu_pd(a + i + W), s1);
        s2 = _mm512_add_pd(_mm512_loadu_pd(a + i + 2 * W), s2);
        s3 = _mm512_add_pd(_mm512_loadu_pd(a + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm512_add_pd(_mm512_loadu_pd(a + i), s0);
    if (i < n) {
        __mmask8 m = tail_mask(n - i);
        s1 = _mm512_add_pd(_mm512_maskz_loadu_pd(m, a + i), s1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
}

static double l2sq(const double *a, const double *b, uint64_t n)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = sqd(s0, _mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i));
        s1 = sqd(s1, _mm512_loadu_pd(a + i + W), _mm512_loadu_pd(b + i + W));
        s2 = sqd(s2, _mm512_loadu_pd(a + i + 2 * W), _mm512_loadu_pd(b + i + 2 * W));
        s3 = sqd(s3, _mm512_loadu_pd(a + i + 3 * W), _mm512_loadu_pd(b + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        s0 = sqd(s0, _mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i));
    if (i < n) {
        __mmask8 m = tail_mask(n - i);
        s1 = sqd(s1, _mm512_maskz_loadu_pd(m, a + i), _mm512_maskz_loadu_pd(m, b + i));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
}

static void axpy(double alpha, const double *x, const double *y, double *out, uint64_t n)
{
    const __m512d va = _mm512_set1_pd(alpha);
    uint64_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_pd(out + i, _mm512_fmadd_pd(va, _mm512_loadu_pd(x + i), _mm512_loadu_pd(y + i)));
    for (; i < n; i += W) {
        __mmask8 m = n - i >= W ? (__mmask8)0xff : tail_mask(n - i);
        __m512d r = _mm512_fmadd_pd(va, _mm512_maskz_loadu_pd(m, x + i), _mm512_maskz_loadu_pd(m, y + i));
        _mm512_mask_storeu_pd(out + i, m, r);
    }
}

static void dot3(const double *a, const double *b, uint64_t n, double r[3])
{
    r[0] = dot(a, b, n);
    r[1] = dot(a, a, n);
    r[2] = dot(b, b, n);
}

const eh_vec_ops64 eh_vec_avx512_ops64 = {dot, sum, l2sq, axpy, dot3};
#endif
