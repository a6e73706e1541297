/* Portable float32 vector ops. Eight independent partial sums give the CPU
 * (and the wasm32 SIMD128 build's vectorizer) parallel work without
 * reassociating any one sum; tails run sequentially. */
#include "kernels/vector/vector.h"

#define LANES 8

static inline float fold8(const float s[LANES])
{
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static float dot(const float *a, const float *b, uint64_t n)
{
    float s[LANES] = {0};
    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            s[j] += a[i + j] * b[i + j];
    float t = 0;
    for (; i < n; i++)
        t += a[i] * b[i];
    return fold8(s) + t;
}

static float sum(const float *a, uint64_t n)
{
    float s[LANES] = {0};
    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            s[j] += a[i + j];
    float t = 0;
    for (; i < n; i++)
        t += a[i];
    return fold8(s) + t;
}

static float l2sq(const float *a, const float *b, uint64_t n)
{
    float s[LANES] = {0};
    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float d = a[i + j] - b[i + j];
            s[j] += d * d;
        }
    float t = 0;
    for (; i < n; i++) {
        float d = a[i] - b[i];
        t += d * d;
    }
    return fold8(s) + t;
}

static void axpy(float alpha, const float *x, const float *y, float *out, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        out[i] = alpha * x[i] + y[i];
}

/* Three vectorizable passes: GCC and clang leave a fused three-sum loop scalar. */
static void dot3(const float *a, const float *b, uint64_t n, float r[3])
{
    r[0] = dot(a, b, n);
    r[1] = dot(a, a, n);
    r[2] = dot(b, b, n);
}

static void rows(int kind, const float *m, const float *q, uint64_t n, uint64_t cols, float *out)
{
    eh_vec_rows_generic(&eh_vec_scalar_ops, kind, m, q, n, cols, out);
}

static void rows_cos(const float *m, const float *q, uint64_t n, uint64_t cols, float *d,
                     float *norm2)
{
    /* Two vectorizable passes beat one pass of the unvectorized dot3. */
    rows(EH_VEC_ROWS_DOT, m, q, n, cols, d);
    rows(EH_VEC_ROWS_NORM2, m, q, n, cols, norm2);
}

const eh_vec_ops eh_vec_scalar_ops = {dot, sum, l2sq, axpy, dot3, rows, rows_cos};
