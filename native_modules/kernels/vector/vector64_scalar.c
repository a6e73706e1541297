/* Portable float64 vector ops: eight independent partial sums per step, like
 * the float32 scalar variant (see there); also the wasm32 float64 path. */
#include "kernels/vector/vector.h"

#define LANES 8

static inline double fold8(const double s[LANES])
{
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static double dot(const double *a, const double *b, uint64_t n)
{
    double s[LANES] = {0};
    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            s[j] += a[i + j] * b[i + j];
    double t = 0;
    for (; i < n; i++)
        t += a[i] * b[i];
    return fold8(s) + t;
}

static double sum(const double *a, uint64_t n)
{
    double s[LANES] = {0};
    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            s[j] += a[i + j];
    double t = 0;
    for (; i < n; i++)
        t += a[i];
    return fold8(s) + t;
}

static double l2sq(const double *a, const double *b, uint64_t n)
{
    double s[LANES] = {0};
    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double d = a[i + j] - b[i + j];
            s[j] += d * d;
        }
    double t = 0;
    for (; i < n; i++) {
        double d = a[i] - b[i];
        t += d * d;
    }
    return fold8(s) + t;
}

static void axpy(double alpha, const double *x, const double *y, double *out, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        out[i] = alpha * x[i] + y[i];
}

static void dot3(const double *a, const double *b, uint64_t n, double r[3])
{
    r[0] = dot(a, b, n);
    r[1] = dot(a, a, n);
    r[2] = dot(b, b, n);
}

const eh_vec_ops64 eh_vec_scalar_ops64 = {dot, sum, l2sq, axpy, dot3};
