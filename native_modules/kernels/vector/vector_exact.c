/* The recomputations behind the vector kernels' numeric guarantees
 * (vector.h): run only for results the fast ISA kernels could have got wrong
 * by overflow or underflow. Portable C, shared by every variant.
 *
 * float32 inputs: accumulated in float64. A product of two float32 values is
 * exact in float64 and lies in [2^-298, 2^256], so no term overflows or
 * underflows; sums of up to 2^40 terms stay far below float64's range.
 *
 * float64 inputs: the terms are scaled by a power of two (exact: only the
 * exponent changes) that brings the largest into [1, 4) -- for sums of
 * squares and cosine each vector by its largest magnitude, for a dot product
 * each product by the largest product's exponent -- the sums are taken on
 * the scaled values and the scale is undone at the end in exact power-of-two
 * steps; terms tiny next to the largest may underflow, which costs at most
 * n * 2^-1074 relative to the largest term. */
#include "kernels/vector/vector.h"

double eh_vec_dot_wide(const eh_f32 *a, const eh_f32 *b, uint64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)a[i] * b[i];
        s1 += (double)a[i + 1] * b[i + 1];
        s2 += (double)a[i + 2] * b[i + 2];
        s3 += (double)a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

double eh_vec_sum_wide(const eh_f32 *a, uint64_t n)
{
    double s0 = 0, s1 = 0;
    uint64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += a[i];
        s1 += a[i + 1];
    }
    if (i < n)
        s0 += a[i];
    return s0 + s1;
}

double eh_vec_l2sq_wide(const eh_f32 *a, const eh_f32 *b, uint64_t n)
{
    double s0 = 0, s1 = 0;
    uint64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        double d0 = (double)a[i] - b[i], d1 = (double)a[i + 1] - b[i + 1];
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    if (i < n) {
        double d = (double)a[i] - b[i];
        s0 += d * d;
    }
    return s0 + s1;
}

void eh_vec_dot3_wide(const eh_f32 *a, const eh_f32 *b, uint64_t n, double r[3])
{
    double ab = 0, aa = 0, bb = 0;
    for (uint64_t i = 0; i < n; i++) {
        double x = a[i], y = b[i];
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    r[0] = ab;
    r[1] = aa;
    r[2] = bb;
}

/* --- float64: powers of two ---------------------------------------------- */

static inline uint64_t bits(double x)
{
    uint64_t u;
    __builtin_memcpy(&u, &x, 8);
    return u;
}

/* 2^e for -1022 <= e <= 1023. */
static inline double pow2(int e)
{
    uint64_t u = (uint64_t)(e + 1023) << 52;
    double x;
    __builtin_memcpy(&x, &u, 8);
    return x;
}

/* x * 2^e for any e, in exact steps (the last one rounds if the result is
 * subnormal, and overflows to inf only if it does not fit). */
static double scale(double x, int e)
{
    while (e > 1000) {
        x *= pow2(1000);
        e -= 1000;
    }
    while (e < -1000) {
        x *= pow2(-1000);
        e += 1000;
    }
    return x * pow2(e);
}

/* e with 2^e <= m < 2^(e+1), for finite m > 0 (subnormals included). */
static int exponent(double m)
{
    int e = (int)((bits(m) >> 52) & 0x7ff);
    if (e)
        return e - 1023;
    return exponent(m * 0x1p64) - 64;
}

static inline double mag(double x) { return x < 0 ? -x : x; }

/* Largest |a[i]| (NaNs ignored). */
static double max_abs(const eh_f64 *a, uint64_t n)
{
    double m = 0;
    for (uint64_t i = 0; i < n; i++)
        m = mag(a[i]) > m ? mag(a[i]) : m;
    return m;
}

/* The exponent that brings m into [1, 2), or 0 when m is 0 or infinite (then
 * scaling cannot help: the plain sums give the IEEE answer). */
static int scale_for(double m)
{
    return m > 0 && eh_vec_finite(m) ? -exponent(m) : 0;
}

/* Multiplying by 2^e (|e| <= 1075) as two representable factors. */
typedef struct {
    double f1, f2;
} factor;

static factor factor_for(int e)
{
    factor f = {pow2(e / 2), pow2(e - e / 2)};
    return f;
}

static inline double apply(double x, factor f) { return x * f.f1 * f.f2; }

/* a.b with every product scaled by 2^-E, E the exponent of the largest
 * one: large elements need not meet large ones, so scaling a and b by their
 * own maxima could push every product out of range (found by the fuzzer).
 * Each product is taken as (mantissa x mantissa) * 2^(its exponent - E). */
double eh_vec_dot_scaled(const eh_f64 *a, const eh_f64 *b, uint64_t n)
{
    int top = -100000, special = 0;
    for (uint64_t i = 0; i < n; i++) {
        double x = a[i], y = b[i];
        if (!eh_vec_finite(x) || !eh_vec_finite(y))
            special = 1;
        else if (x != 0 && y != 0 && exponent(mag(x)) + exponent(mag(y)) > top)
            top = exponent(mag(x)) + exponent(mag(y));
    }
    double s = 0;
    if (special) {
        /* The exact sum is decided by the terms with an inf or NaN factor
         * alone (each is +-inf or NaN; finite products only add a finite
         * amount), so the others are left out: a finite product that
         * overflows must not meet an infinite one of the other sign as
         * inf - inf (found by the fuzzer). */
        for (uint64_t i = 0; i < n; i++)
            if (!eh_vec_finite(a[i]) || !eh_vec_finite(b[i]))
                s += a[i] * b[i];
        return s;
    }
    if (top == -100000) /* only zero products */
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        double x = a[i], y = b[i];
        if (x == 0 || y == 0)
            continue;
        int ex = exponent(mag(x)), ey = exponent(mag(y));
        s += scale(scale(x, -ex) * scale(y, -ey), ex + ey - top);
    }
    return scale(s, top);
}

double eh_vec_sum_scaled(const eh_f64 *a, uint64_t n)
{
    /* Halving every term 2^k times (2^k >= 2n) keeps any partial sum finite. */
    int k = 1;
    while (k < 64 && ((uint64_t)1 << k) < 2 * n)
        k++;
    double s = 0, f = pow2(-k);
    for (uint64_t i = 0; i < n; i++)
        s += a[i] * f;
    return scale(s, k);
}

double eh_vec_norm_scaled(const eh_f64 *a, uint64_t n)
{
    int e = scale_for(max_abs(a, n));
    factor f = factor_for(e);
    double s = 0;
    for (uint64_t i = 0; i < n; i++) {
        double x = apply(a[i], f);
        s += x * x;
    }
    return scale(eh_vec_sqrt(s), -e);
}

double eh_vec_l2sq_scaled(const eh_f64 *a, const eh_f64 *b, uint64_t n)
{
    double m = 0;
    for (uint64_t i = 0; i < n; i++)
        m = mag(a[i] - b[i]) > m ? mag(a[i] - b[i]) : m;
    int e = scale_for(m);
    factor f = factor_for(e);
    double s = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d = apply(a[i] - b[i], f);
        s += d * d;
    }
    return scale(s, -2 * e);
}

double eh_vec_cos_scaled(const eh_f64 *a, const eh_f64 *b, uint64_t n)
{
    /* Cosine does not change when a and b are scaled separately. */
    factor fa = factor_for(scale_for(max_abs(a, n))), fb = factor_for(scale_for(max_abs(b, n)));
    double r[3] = {0, 0, 0};
    for (uint64_t i = 0; i < n; i++) {
        double x = apply(a[i], fa), y = apply(b[i], fb);
        r[0] += x * y;
        r[1] += x * x;
        r[2] += y * y;
    }
    return eh_vec_cos(r);
}
