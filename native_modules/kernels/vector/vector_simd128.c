/* WebAssembly SIMD128 float32 vector ops (wasm32 builds with -msimd128 only):
 * eight f32x4 partial sums per step (32 floats) for latency, a sequential
 * scalar tail. SIMD128 has no fused multiply-add, so axpy rounds twice like
 * the scalar variant. Row kernels go through the generic per-row loop. */
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#include "kernels/vector/vector.h"

#define W 4
#define ACC 8

static inline float hsum(v128_t v)
{
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

static inline v128_t fold(const v128_t s[ACC])
{
    v128_t a = wasm_f32x4_add(wasm_f32x4_add(s[0], s[1]), wasm_f32x4_add(s[2], s[3]));
    v128_t b = wasm_f32x4_add(wasm_f32x4_add(s[4], s[5]), wasm_f32x4_add(s[6], s[7]));
    return wasm_f32x4_add(a, b);
}

static inline v128_t ld(const float *p) { return wasm_v128_load(p); }

static float dot(const float *a, const float *b, uint64_t n)
{
    v128_t s[ACC];
    for (int j = 0; j < ACC; j++)
        s[j] = wasm_f32x4_splat(0.0f);
    uint64_t i = 0;
    for (; i + ACC * W <= n; i += ACC * W)
        for (int j = 0; j < ACC; j++)
            s[j] = wasm_f32x4_add(s[j], wasm_f32x4_mul(ld(a + i + j * W), ld(b + i + j * W)));
    float t = 0;
    for (; i < n; i++)
        t += a[i] * b[i];
    return hsum(fold(s)) + t;
}

static float sum(const float *a, uint64_t n)
{
    v128_t s[ACC];
    for (int j = 0; j < ACC; j++)
        s[j] = wasm_f32x4_splat(0.0f);
    uint64_t i = 0;
    for (; i + ACC * W <= n; i += ACC * W)
        for (int j = 0; j < ACC; j++)
            s[j] = wasm_f32x4_add(s[j], ld(a + i + j * W));
    float t = 0;
    for (; i < n; i++)
        t += a[i];
    return hsum(fold(s)) + t;
}

static float l2sq(const float *a, const float *b, uint64_t n)
{
    v128_t s[ACC];
    for (int j = 0; j < ACC; j++)
        s[j] = wasm_f32x4_splat(0.0f);
    uint64_t i = 0;
    for (; i + ACC * W <= n; i += ACC * W)
        for (int j = 0; j < ACC; j++) {
            v128_t d = wasm_f32x4_sub(ld(a + i + j * W), ld(b + i + j * W));
            s[j] = wasm_f32x4_add(s[j], wasm_f32x4_mul(d, d));
        }
    float t = 0;
    for (; i < n; i++) {
        float d = a[i] - b[i];
        t += d * d;
    }
    return hsum(fold(s)) + t;
}

static void axpy(float alpha, const float *x, const float *y, float *out, uint64_t n)
{
    const v128_t va = wasm_f32x4_splat(alpha);
    uint64_t i = 0;
    for (; i + W <= n; i += W)
        wasm_v128_store(out + i, wasm_f32x4_add(wasm_f32x4_mul(va, ld(x + i)), ld(y + i)));
    for (; i < n; i++)
        out[i] = alpha * x[i] + y[i];
}

static void dot3(const float *a, const float *b, uint64_t n, float r[3])
{
    v128_t ab = wasm_f32x4_splat(0.0f), aa = ab, bb = ab, ab1 = ab, aa1 = ab, bb1 = ab;
    uint64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        v128_t x0 = ld(a + i), y0 = ld(b + i), x1 = ld(a + i + W), y1 = ld(b + i + W);
        ab = wasm_f32x4_add(ab, wasm_f32x4_mul(x0, y0));
        aa = wasm_f32x4_add(aa, wasm_f32x4_mul(x0, x0));
        bb = wasm_f32x4_add(bb, wasm_f32x4_mul(y0, y0));
        ab1 = wasm_f32x4_add(ab1, wasm_f32x4_mul(x1, y1));
        aa1 = wasm_f32x4_add(aa1, wasm_f32x4_mul(x1, x1));
        bb1 = wasm_f32x4_add(bb1, wasm_f32x4_mul(y1, y1));
    }
    float tab = 0, taa = 0, tbb = 0;
    for (; i < n; i++) {
        tab += a[i] * b[i];
        taa += a[i] * a[i];
        tbb += b[i] * b[i];
    }
    r[0] = hsum(wasm_f32x4_add(ab, ab1)) + tab;
    r[1] = hsum(wasm_f32x4_add(aa, aa1)) + taa;
    r[2] = hsum(wasm_f32x4_add(bb, bb1)) + tbb;
}

static void rows(int kind, const float *m, const float *q, uint64_t n, uint64_t cols, float *out)
{
    eh_vec_rows_generic(&eh_vec_simd128_ops, kind, m, q, n, cols, out);
}

static void rows_cos(const float *m, const float *q, uint64_t n, uint64_t cols, float *d,
                     float *norm2)
{
    eh_vec_rows_cos_generic(&eh_vec_simd128_ops, m, q, n, cols, d, norm2);
}

const eh_vec_ops eh_vec_simd128_ops = {dot, sum, l2sq, axpy, dot3, rows, rows_cos};
#endif
