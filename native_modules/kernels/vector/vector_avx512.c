/* AVX-512F float32 vector ops: four zmm partial sums (64 floats per step,
 * enough to cover FMA latency), then 16-float steps, then one masked step;
 * masked loads never touch bytes past the end. */
#ifdef __x86_64__
#pragma GCC target("avx512f,fma")
#include <immintrin.h>
#include "kernels/vector/vector.h"

#define W 16
#define PF_ROWS 16 /* rows ahead to prefetch in rows(): ~8 KB at 128 columns */

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

/* [sum a, sum b, sum c, sum d]: pairwise interleave-adds, then fold lanes. */
static inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
    __m512 x = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(abd, cdd)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(abd, cdd)));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

static inline __attribute__((always_inline)) __m512 term(int kind, __m512 x, __m512 y, __m512 acc)
{
    if (kind == EH_VEC_ROWS_L2SQ) {
        __m512 d = _mm512_sub_ps(x, y);
        return _mm512_fmadd_ps(d, d, acc);
    }
    return _mm512_fmadd_ps(x, kind == EH_VEC_ROWS_NORM2 ? x : y, acc);
}

/* Four rows per pass, two accumulators per row (8 independent FMA chains). */
static inline __attribute__((always_inline)) void rows_k(int kind, const float *m, const float *q,
                                                          uint64_t n, uint64_t cols, float *out)
{
    uint64_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *p[4] = {m + r * cols, m + (r + 1) * cols, m + (r + 2) * cols,
                             m + (r + 3) * cols};
        __m512 s[4][2];
        for (int i = 0; i < 4; i++)
            s[i][0] = s[i][1] = _mm512_setzero_ps();
        uint64_t c = 0;
        for (; c + 2 * W <= cols; c += 2 * W) {
            __m512 q0 = _mm512_loadu_ps(q + c), q1 = _mm512_loadu_ps(q + c + W);
            for (int i = 0; i < 4; i++) {
                _mm_prefetch((const char *)(p[i] + PF_ROWS * cols + c), _MM_HINT_T0);
                _mm_prefetch((const char *)(p[i] + PF_ROWS * cols + c + W), _MM_HINT_T0);
                s[i][0] = term(kind, _mm512_loadu_ps(p[i] + c), q0, s[i][0]);
                s[i][1] = term(kind, _mm512_loadu_ps(p[i] + c + W), q1, s[i][1]);
            }
        }
        for (; c < cols; c += W) {
            __mmask16 mk = cols - c >= W ? (__mmask16)0xffff : tail_mask(cols - c);
            __m512 q0 = _mm512_maskz_loadu_ps(mk, q + c);
            for (int i = 0; i < 4; i++)
                s[i][0] = term(kind, _mm512_maskz_loadu_ps(mk, p[i] + c), q0, s[i][0]);
        }
        _mm_storeu_ps(out + r, reduce4(_mm512_add_ps(s[0][0], s[0][1]),
                                       _mm512_add_ps(s[1][0], s[1][1]),
                                       _mm512_add_ps(s[2][0], s[2][1]),
                                       _mm512_add_ps(s[3][0], s[3][1])));
    }
    for (; r < n; r++) {
        const float *row = m + r * cols;
        out[r] = kind == EH_VEC_ROWS_L2SQ ? l2sq(row, q, cols)
                 : kind == EH_VEC_ROWS_DOT ? dot(row, q, cols)
                                           : dot(row, row, cols);
    }
}

static void rows(int kind, const float *m, const float *q, uint64_t n, uint64_t cols, float *out)
{
    if (kind == EH_VEC_ROWS_DOT)
        rows_k(EH_VEC_ROWS_DOT, m, q, n, cols, out);
    else if (kind == EH_VEC_ROWS_L2SQ)
        rows_k(EH_VEC_ROWS_L2SQ, m, q, n, cols, out);
    else
        rows_k(EH_VEC_ROWS_NORM2, m, q, n, cols, out);
}

/* Four rows per pass: a dot and a norm accumulator per row. */
static void rows_cos(const float *m, const float *q, uint64_t n, uint64_t cols, float *d,
                     float *norm2)
{
    uint64_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *p[4] = {m + r * cols, m + (r + 1) * cols, m + (r + 2) * cols,
                             m + (r + 3) * cols};
        __m512 s[4][2];
        for (int i = 0; i < 4; i++)
            s[i][0] = s[i][1] = _mm512_setzero_ps();
        uint64_t c = 0;
        for (; c + W <= cols; c += W) {
            __m512 q0 = _mm512_loadu_ps(q + c);
            for (int i = 0; i < 4; i++) {
                _mm_prefetch((const char *)(p[i] + PF_ROWS * cols + c), _MM_HINT_T0);
                __m512 x = _mm512_loadu_ps(p[i] + c);
                s[i][0] = _mm512_fmadd_ps(x, q0, s[i][0]);
                s[i][1] = _mm512_fmadd_ps(x, x, s[i][1]);
            }
        }
        for (; c < cols; c += W) {
            __mmask16 mk = cols - c >= W ? (__mmask16)0xffff : tail_mask(cols - c);
            __m512 q0 = _mm512_maskz_loadu_ps(mk, q + c);
            for (int i = 0; i < 4; i++) {
                __m512 x = _mm512_maskz_loadu_ps(mk, p[i] + c);
                s[i][0] = _mm512_fmadd_ps(x, q0, s[i][0]);
                s[i][1] = _mm512_fmadd_ps(x, x, s[i][1]);
            }
        }
        _mm_storeu_ps(d + r, reduce4(s[0][0], s[1][0], s[2][0], s[3][0]));
        _mm_storeu_ps(norm2 + r, reduce4(s[0][1], s[1][1], s[2][1], s[3][1]));
    }
    for (; r < n; r++) {
        float t[3];
        dot3(m + r * cols, q, cols, t);
        d[r] = t[0];
        norm2[r] = t[1];
    }
}

const eh_vec_ops eh_vec_avx512_ops = {dot, sum, l2sq, axpy, dot3, rows, rows_cos};
#endif
