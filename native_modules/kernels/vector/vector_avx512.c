/* AVX-512F float32 vector ops: four zmm partial sums (64 floats per step,
 * enough to cover FMA latency), then 16-float steps, then one masked step;
 * masked loads never touch bytes past the end. */
#ifdef __x86_64__
#pragma GCC target("avx512f,fma")
#include <immintrin.h>
#include "kernels/vector/vector.h"

#define W 16

static inline __mmask16 tail_mask(uint64_t left) { return (__mmask16)((1u << left) - 1u); }

static float dot(const float *a, const float *b, uint64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + W), _mm512_loadu_ps(b + i + W), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 2 * W), _mm512_loadu_ps(b + i + 2 * W), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 3 * W), _mm512_loadu_ps(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float sum(const float *a, uint64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm512_add_ps(_mm512_loadu_ps(a + i), s0);
        s1 = _mm512_add_ps(_mm512_loadu_ps(a + i + W), s1);
        s2 = _mm512_add_ps(_mm512_loadu_ps(a + i + 2 * W), s2);
        s3 = _mm512_add_ps(_mm512_loadu_ps(a + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm512_add_ps(_mm512_loadu_ps(a + i), s0);
    if (i < n)
        s1 = _mm512_add_ps(_mm512_maskz_loadu_ps(tail_mask(n - i), a + i), s1);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 sqd(__m512 s, __m512 x, __m512 y)
{
    __m512 d = _mm512_sub_ps(x, y);
    return _mm512_fmadd_ps(d, d, s);
}

static float l2sq(const float *a, const float *b, uint64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = sqd(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s1 = sqd(s1, _mm512_loadu_ps(a + i + W), _mm512_loadu_ps(b + i + W));
        s2 = sqd(s2, _mm512_loadu_ps(a + i + 2 * W), _mm512_loadu_ps(b + i + 2 * W));
        s3 = sqd(s3, _mm512_loadu_ps(a + i + 3 * W), _mm512_loadu_ps(b + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        s0 = sqd(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        s1 = sqd(s1, _mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static void axpy(float alpha, const float *x, const float *y, float *out, uint64_t n)
{
    const __m512 va = _mm512_set1_ps(alpha);
    uint64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        __m512 r0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i));
        __m512 r1 = _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i + W), _mm512_loadu_ps(y + i + W));
        _mm512_storeu_ps(out + i, r0);
        _mm512_storeu_ps(out + i + W, r1);
    }
    for (; i < n; i += W) {
        __mmask16 m = n - i >= W ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(out + i, m, r);
    }
}

static void dot3(const float *a, const float *b, uint64_t n, float r[3])
{
    __m512 ab0 = _mm512_setzero_ps(), ab1 = ab0, aa0 = ab0, aa1 = ab0, bb0 = ab0, bb1 = ab0;
    uint64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
        __m512 x1 = _mm512_loadu_ps(a + i + W), y1 = _mm512_loadu_ps(b + i + W);
        ab0 = _mm512_fmadd_ps(x0, y0, ab0);
        aa0 = _mm512_fmadd_ps(x0, x0, aa0);
        bb0 = _mm512_fmadd_ps(y0, y0, bb0);
        ab1 = _mm512_fmadd_ps(x1, y1, ab1);
        aa1 = _mm512_fmadd_ps(x1, x1, aa1);
        bb1 = _mm512_fmadd_ps(y1, y1, bb1);
    }
    for (; i < n; i += W) {
        __mmask16 m = n - i >= W ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i), y = _mm512_maskz_loadu_ps(m, b + i);
        ab0 = _mm512_fmadd_ps(x, y, ab0);
        aa0 = _mm512_fmadd_ps(x, x, aa0);
        bb0 = _mm512_fmadd_ps(y, y, bb0);
    }
    r[0] = _mm512_reduce_add_ps(_mm512_add_ps(ab0, ab1));
    r[1] = _mm512_reduce_add_ps(_mm512_add_ps(aa0, aa1));
    r[2] = _mm512_reduce_add_ps(_mm512_add_ps(bb0, bb1));
}

const eh_vec_ops eh_vec_avx512_ops = {dot, sum, l2sq, axpy, dot3};
#endif
