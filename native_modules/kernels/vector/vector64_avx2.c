/* AVX2 float64 vector ops: four ymm partial sums per step
 * (sequential scalar tail); the float64 twin of vector_avx2.c. */
#ifdef __x86_64__
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include "kernels/vector/vector.h"

#define W 4

static inline double hsum(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static inline __m256d sqd(__m256d s, __m256d x, __m256d y)
{
    __m256d d = _mm256_sub_pd(x, y);
    return _mm256_fmadd_pd(d, d, s);
}

static double dot(const double *a, const double *b, uint64_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + W), _mm256_loadu_pd(b + i + W), s1);
        s2 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 2 * W), _mm256_loadu_pd(b + i + 2 * W), s2);
        s3 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 3 * W), _mm256_loadu_pd(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s0);
    double t = 0;
    for (; i < n; i++) {
        t += a[i] * b[i];
    }
    return hsum(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3))) + t;
}

static double sum(const double *a, uint64_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm256_add_pd(_mm256_loadu_pd(a + i), s0);
        s1 = _mm256_add_pd(_mm256_loadu_pd(a + i + W), s1);
        s2 = _mm256_add_pd(_mm256_loadu_pd(a + i + 2 * W), s2);
        s3 = _mm256_add_pd(_mm256_loadu_pd(a + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm256_add_pd(_mm256_loadu_pd(a + i), s0);
    double t = 0;
    for (; i < n; i++) {
        t += a[i];
    }
    return hsum(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3))) + t;
}

static double l2sq(const double *a, const double *b, uint64_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = sqd(s0, _mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i));
        s1 = sqd(s1, _mm256_loadu_pd(a + i + W), _mm256_loadu_pd(b + i + W));
        s2 = sqd(s2, _mm256_loadu_pd(a + i + 2 * W), _mm256_loadu_pd(b + i + 2 * W));
        s3 = sqd(s3, _mm256_loadu_pd(a + i + 3 * W), _mm256_loadu_pd(b + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        s0 = sqd(s0, _mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i));
    double t = 0;
    for (; i < n; i++) {
        double d = a[i] - b[i];
        t += d * d;
    }
    return hsum(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3))) + t;
}

static void axpy(double alpha, const double *x, const double *y, double *out, uint64_t n)
{
    const __m256d va = _mm256_set1_pd(alpha);
    uint64_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_pd(out + i, _mm256_fmadd_pd(va, _mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i)));
    for (; i < n; i++)
        out[i] = _mm_cvtsd_f64(_mm_fmadd_sd(_mm_set_sd(alpha), _mm_set_sd(x[i]), _mm_set_sd(y[i])));
}

static void dot3(const double *a, const double *b, uint64_t n, double r[3])
{
    r[0] = dot(a, b, n);
    r[1] = dot(a, a, n);
    r[2] = dot(b, b, n);
}

const eh_vec_ops64 eh_vec_avx2_ops64 = {dot, sum, l2sq, axpy, dot3};
#endif
