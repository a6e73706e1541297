/* AVX2+FMA float32 vector ops: four ymm partial sums (32 floats per step),
 * 8-float steps, then a sequential scalar tail (no masked loads needed). */
#ifdef __x86_64__
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include "kernels/vector/vector.h"

#define W 8
#define PF_ROWS 16 /* rows ahead to prefetch in rows(): ~8 KB at 128 columns */

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256 add4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    return _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d));
}

static float dot(const float *a, const float *b, uint64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + W), _mm256_loadu_ps(b + i + W), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 2 * W), _mm256_loadu_ps(b + i + 2 * W), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 3 * W), _mm256_loadu_ps(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float t = 0;
    for (; i < n; i++)
        t += a[i] * b[i];
    return hsum(add4(s0, s1, s2, s3)) + t;
}

static float sum(const float *a, uint64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm256_add_ps(_mm256_loadu_ps(a + i), s0);
        s1 = _mm256_add_ps(_mm256_loadu_ps(a + i + W), s1);
        s2 = _mm256_add_ps(_mm256_loadu_ps(a + i + 2 * W), s2);
        s3 = _mm256_add_ps(_mm256_loadu_ps(a + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm256_add_ps(_mm256_loadu_ps(a + i), s0);
    float t = 0;
    for (; i < n; i++)
        t += a[i];
    return hsum(add4(s0, s1, s2, s3)) + t;
}

static inline __m256 sqd(__m256 s, __m256 x, __m256 y)
{
    __m256 d = _mm256_sub_ps(x, y);
    return _mm256_fmadd_ps(d, d, s);
}

static float l2sq(const float *a, const float *b, uint64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = sqd(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s1 = sqd(s1, _mm256_loadu_ps(a + i + W), _mm256_loadu_ps(b + i + W));
        s2 = sqd(s2, _mm256_loadu_ps(a + i + 2 * W), _mm256_loadu_ps(b + i + 2 * W));
        s3 = sqd(s3, _mm256_loadu_ps(a + i + 3 * W), _mm256_loadu_ps(b + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        s0 = sqd(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    float t = 0;
    for (; i < n; i++) {
        float d = a[i] - b[i];
        t += d * d;
    }
    return hsum(add4(s0, s1, s2, s3)) + t;
}

static void axpy(float alpha, const float *x, const float *y, float *out, uint64_t n)
{
    const __m256 va = _mm256_set1_ps(alpha);
    uint64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        __m256 r0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
        __m256 r1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + W), _mm256_loadu_ps(y + i + W));
        _mm256_storeu_ps(out + i, r0);
        _mm256_storeu_ps(out + i + W, r1);
    }
    for (; i < n; i++)
        out[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(alpha), _mm_set_ss(x[i]), _mm_set_ss(y[i])));
}

static void dot3(const float *a, const float *b, uint64_t n, float r[3])
{
    __m256 ab0 = _mm256_setzero_ps(), ab1 = ab0, aa0 = ab0, aa1 = ab0, bb0 = ab0, bb1 = ab0;
    uint64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        __m256 x0 = _mm256_loadu_ps(a + i), y0 = _mm256_loadu_ps(b + i);
        __m256 x1 = _mm256_loadu_ps(a + i + W), y1 = _mm256_loadu_ps(b + i + W);
        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
        ab1 = _mm256_fmadd_ps(x1, y1, ab1);
        aa1 = _mm256_fmadd_ps(x1, x1, aa1);
        bb1 = _mm256_fmadd_ps(y1, y1, bb1);
    }
    float tab = 0, taa = 0, tbb = 0;
    for (; i < n; i++) {
        tab += a[i] * b[i];
        taa += a[i] * a[i];
        tbb += b[i] * b[i];
    }
    r[0] = hsum(_mm256_add_ps(ab0, ab1)) + tab;
    r[1] = hsum(_mm256_add_ps(aa0, aa1)) + taa;
    r[2] = hsum(_mm256_add_ps(bb0, bb1)) + tbb;
}

/* [sum a, sum b, sum c, sum d]: pairwise interleave-adds, then fold halves. */
static inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    __m256d abd = _mm256_castps_pd(ab), cdd = _mm256_castps_pd(cd);
    __m256 x = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(abd, cdd)),
                             _mm256_castpd_ps(_mm256_unpackhi_pd(abd, cdd)));
    return _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
}

static inline __attribute__((always_inline)) __m256 term(int kind, __m256 x, __m256 y, __m256 acc)
{
    if (kind == EH_VEC_ROWS_L2SQ) {
        __m256 d = _mm256_sub_ps(x, y);
        return _mm256_fmadd_ps(d, d, acc);
    }
    return _mm256_fmadd_ps(x, kind == EH_VEC_ROWS_NORM2 ? x : y, acc);
}

static inline float term1(int kind, float x, float y)
{
    float d = x - y;
    return kind == EH_VEC_ROWS_L2SQ ? d * d : kind == EH_VEC_ROWS_DOT ? x * y : x * x;
}

/* Four rows per pass, two accumulators per row (8 independent FMA chains). */
static inline __attribute__((always_inline)) void rows_k(int kind, const float *m, const float *q,
                                                          uint64_t n, uint64_t cols, float *out)
{
    uint64_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *p[4] = {m + r * cols, m + (r + 1) * cols, m + (r + 2) * cols,
                             m + (r + 3) * cols};
        __m256 s[4][2];
        for (int i = 0; i < 4; i++)
            s[i][0] = s[i][1] = _mm256_setzero_ps();
        uint64_t c = 0;
        for (; c + 2 * W <= cols; c += 2 * W) {
            __m256 q0 = _mm256_loadu_ps(q + c), q1 = _mm256_loadu_ps(q + c + W);
            for (int i = 0; i < 4; i++) {
                if (!(c & 15)) /* one prefetch per 64-byte line */
                    _mm_prefetch((const char *)(p[i] + PF_ROWS * cols + c), _MM_HINT_T0);
                s[i][0] = term(kind, _mm256_loadu_ps(p[i] + c), q0, s[i][0]);
                s[i][1] = term(kind, _mm256_loadu_ps(p[i] + c + W), q1, s[i][1]);
            }
        }
        __m128 t = reduce4(_mm256_add_ps(s[0][0], s[0][1]), _mm256_add_ps(s[1][0], s[1][1]),
                           _mm256_add_ps(s[2][0], s[2][1]), _mm256_add_ps(s[3][0], s[3][1]));
        float tail[4];
        _mm_storeu_ps(tail, t);
        for (; c < cols; c++)
            for (int i = 0; i < 4; i++)
                tail[i] += term1(kind, p[i][c], q[c]);
        for (int i = 0; i < 4; i++)
            out[r + i] = tail[i];
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
        __m256 s[4][2];
        for (int i = 0; i < 4; i++)
            s[i][0] = s[i][1] = _mm256_setzero_ps();
        uint64_t c = 0;
        for (; c + W <= cols; c += W) {
            __m256 q0 = _mm256_loadu_ps(q + c);
            for (int i = 0; i < 4; i++) {
                if (!(c & 15))
                    _mm_prefetch((const char *)(p[i] + PF_ROWS * cols + c), _MM_HINT_T0);
                __m256 x = _mm256_loadu_ps(p[i] + c);
                s[i][0] = _mm256_fmadd_ps(x, q0, s[i][0]);
                s[i][1] = _mm256_fmadd_ps(x, x, s[i][1]);
            }
        }
        float td[4], tn[4];
        _mm_storeu_ps(td, reduce4(s[0][0], s[1][0], s[2][0], s[3][0]));
        _mm_storeu_ps(tn, reduce4(s[0][1], s[1][1], s[2][1], s[3][1]));
        for (; c < cols; c++)
            for (int i = 0; i < 4; i++) {
                td[i] += p[i][c] * q[c];
                tn[i] += p[i][c] * p[i][c];
            }
        for (int i = 0; i < 4; i++) {
            d[r + i] = td[i];
            norm2[r + i] = tn[i];
        }
    }
    for (; r < n; r++) {
        float t[3];
        dot3(m + r * cols, q, cols, t);
        d[r] = t[0];
        norm2[r] = t[1];
    }
}

const eh_vec_ops eh_vec_avx2_ops = {dot, sum, l2sq, axpy, dot3, rows, rows_cos};
#endif
