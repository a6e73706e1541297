/* The vector layer the vector template (vector_tpl.h) is written against:
 * for the ISA level of the including file's region (kernels/isa/begin.h), a
 * vector of float32 (vs_*) and of float64 (vd_*) with the same operations:
 *
 *   vX_t            the vector type; VS_W / VD_W lanes
 *   vX_zero()       all lanes 0            vX_set1(x)      all lanes x
 *   vX_load(p)      W elements at p        vX_loadn(p, n)  n < W elements, other lanes 0
 *   vX_store(p, v)  W elements to p        vX_storen(p, v, n)  the first n lanes
 *   vX_add, vX_sub  lane-wise              vX_fma(a, b, c) a*b + c (one rounding
 *                                                          on x86, two elsewhere)
 *   vX_axpy(a, x, y) a*x + y per lane, never overflowing where the exact
 *                   value does not: fused, or in float64 for float32 lanes
 *                   (VX_AXPY_EXACT 0: float64 without FMA, see the template)
 *   vX_hsum(v)      the sum of the lanes
 *   vs_reduce4(a, b, c, d, out)  out[i] = hsum of the i-th argument
 *
 * Element pointers are eh_f32 / eh_f64 (vector.h): any address, no
 * alignment assumed, so a result never depends on where a buffer lies.
 * Levels: PORTABLE (8 lanes of plain C the compiler vectorizes), SIMD128
 * (wasm f32x4 / f64x2, no FMA), AVX2 (ymm, FMA, masked loads for tails),
 * AVX512 (zmm, FMA, mask registers). */
#ifndef EH_KERNELS_VECTOR_SIMD_H
#define EH_KERNELS_VECTOR_SIMD_H
#include "kernels/vector/vector.h"

/* The one-instruction operations of an x86 layer, for both element types:
 * PFX the intrinsics' width prefix (_mm256 / _mm512), SFX ps or pd. */
#define EH_VEC_X86_OPS(p, T, TU, PFX, SFX)                                                   \
    static inline p##_t p##_zero(void) { return PFX##_setzero_##SFX(); }                   \
    static inline p##_t p##_set1(T x) { return PFX##_set1_##SFX(x); }                      \
    static inline p##_t p##_load(const TU *q) { return PFX##_loadu_##SFX((const T *)q); }  \
    static inline void p##_store(TU *q, p##_t v) { PFX##_storeu_##SFX((T *)q, v); }        \
    static inline p##_t p##_add(p##_t a, p##_t b) { return PFX##_add_##SFX(a, b); }        \
    static inline p##_t p##_sub(p##_t a, p##_t b) { return PFX##_sub_##SFX(a, b); }        \
    static inline p##_t p##_fma(p##_t a, p##_t b, p##_t c) { return PFX##_fmadd_##SFX(a, b, c); }

/* float32 lanes of a, b, c, d summed pairwise so that every 128-bit lane of
 * the result holds [sum a, sum b, sum c, sum d] partial sums (PFX: width). */
#define EH_VEC_X86_INTERLEAVE4(PFX, V, VD)                                                   \
    static inline V vs_interleave4(V a, V b, V c, V d)                                      \
    {                                                                                         \
        V ab = PFX##_add_ps(PFX##_unpacklo_ps(a, b), PFX##_unpackhi_ps(a, b));              \
        V cd = PFX##_add_ps(PFX##_unpacklo_ps(c, d), PFX##_unpackhi_ps(c, d));              \
        VD abd = PFX##_castps_pd(ab), cdd = PFX##_castps_pd(cd);                             \
        return PFX##_add_ps(PFX##_castpd_ps(PFX##_unpacklo_pd(abd, cdd)),                   \
                            PFX##_castpd_ps(PFX##_unpackhi_pd(abd, cdd)));                  \
    }

#if EH_ISA >= EH_ISA_AVX2
/* x86 (AVX2, AVX-512): FMA, so axpy rounds once in both types. */
#define VD_AXPY_EXACT 1
#define vs_axpy vs_fma
#define vd_axpy vd_fma
#define EH_VEC_X86_OPS_(p, T, TU, PFX, SFX) EH_VEC_X86_OPS(p, T, TU, PFX, SFX)
#if EH_ISA >= EH_ISA_AVX512
typedef __m512 vs_t;
typedef __m512d vd_t;
enum { VS_W = 16, VD_W = 8 };
#define EH_VEC_PFX _mm512
#else
typedef __m256 vs_t;
typedef __m256d vd_t;
enum { VS_W = 8, VD_W = 4 };
#define EH_VEC_PFX _mm256
#endif
EH_VEC_X86_OPS_(vs, float, eh_f32, EH_VEC_PFX, ps)
EH_VEC_X86_OPS_(vd, double, eh_f64, EH_VEC_PFX, pd)
#endif

#if EH_ISA == EH_ISA_AVX512
/* ---------------------------------------------------------------- AVX-512 */
static inline __mmask16 vs_mask(uint64_t n) { return (__mmask16)((1u << n) - 1u); }
static inline __mmask8 vd_mask(uint64_t n) { return (__mmask8)((1u << n) - 1u); }
static inline vs_t vs_loadn(const eh_f32 *p, uint64_t n) { return _mm512_maskz_loadu_ps(vs_mask(n), (const void *)p); }
static inline void vs_storen(eh_f32 *p, vs_t v, uint64_t n) { _mm512_mask_storeu_ps((void *)p, vs_mask(n), v); }
static inline float vs_hsum(vs_t v) { return _mm512_reduce_add_ps(v); }
EH_VEC_X86_INTERLEAVE4(_mm512, __m512, __m512d)
#define VS_HAVE_REDUCE4 1
static inline void vs_reduce4(vs_t a, vs_t b, vs_t c, vs_t d, float out[4])
{
    __m512 x = vs_interleave4(a, b, c, d);
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}
static inline vd_t vd_loadn(const eh_f64 *p, uint64_t n) { return _mm512_maskz_loadu_pd(vd_mask(n), (const void *)p); }
static inline void vd_storen(eh_f64 *p, vd_t v, uint64_t n) { _mm512_mask_storeu_pd((void *)p, vd_mask(n), v); }
static inline double vd_hsum(vd_t v) { return _mm512_reduce_add_pd(v); }

#elif EH_ISA == EH_ISA_AVX2
/* ------------------------------------------------------------------- AVX2 */
/* Lane i active iff i < n: the masks vmaskmov loads and stores take (masked
 * lanes are never accessed, so a tail never reads past its array). */
static inline __m256i vs_mask(uint64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256i vd_mask(uint64_t n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), _mm256_setr_epi64x(0, 1, 2, 3));
}
static inline vs_t vs_loadn(const eh_f32 *p, uint64_t n) { return _mm256_maskload_ps((const float *)p, vs_mask(n)); }
static inline void vs_storen(eh_f32 *p, vs_t v, uint64_t n) { _mm256_maskstore_ps((float *)p, vs_mask(n), v); }
static inline float vs_hsum(vs_t v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
EH_VEC_X86_INTERLEAVE4(_mm256, __m256, __m256d)
#define VS_HAVE_REDUCE4 1
static inline void vs_reduce4(vs_t a, vs_t b, vs_t c, vs_t d, float out[4])
{
    __m256 x = vs_interleave4(a, b, c, d);
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1)));
}
static inline vd_t vd_loadn(const eh_f64 *p, uint64_t n) { return _mm256_maskload_pd((const double *)p, vd_mask(n)); }
static inline void vd_storen(eh_f64 *p, vd_t v, uint64_t n) { _mm256_maskstore_pd((double *)p, vd_mask(n), v); }
static inline double vd_hsum(vd_t v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

#elif EH_ISA == EH_ISA_SIMD128
/* ------------------------------------------------------- WebAssembly SIMD */
typedef v128_t vs_t;
typedef v128_t vd_t;
enum { VS_W = 4, VD_W = 2 };
#define VD_AXPY_EXACT 0
#define EH_VEC_WASM_OPS(p, T, TU, PFX)                                                        \
    static inline p##_t p##_zero(void) { return PFX##_splat(0); }                            \
    static inline p##_t p##_set1(T x) { return PFX##_splat(x); }                             \
    static inline p##_t p##_load(const TU *q) { return wasm_v128_load((const void *)q); }    \
    static inline void p##_store(TU *q, p##_t v) { wasm_v128_store((void *)q, v); }         \
    static inline p##_t p##_add(p##_t a, p##_t b) { return PFX##_add(a, b); }               \
    static inline p##_t p##_sub(p##_t a, p##_t b) { return PFX##_sub(a, b); }               \
    static inline p##_t p##_fma(p##_t a, p##_t b, p##_t c) { return PFX##_add(PFX##_mul(a, b), c); }
EH_VEC_WASM_OPS(vs, float, eh_f32, wasm_f32x4)
EH_VEC_WASM_OPS(vd, double, eh_f64, wasm_f64x2)
static inline vs_t vs_loadn(const eh_f32 *p, uint64_t n)
{
    float t[4] = {0, 0, 0, 0};
    for (uint64_t i = 0; i < n; i++)
        t[i] = p[i];
    return wasm_v128_load(t);
}
static inline void vs_storen(eh_f32 *p, vs_t v, uint64_t n)
{
    float t[4];
    wasm_v128_store(t, v);
    for (uint64_t i = 0; i < n; i++)
        p[i] = t[i];
}
static inline float vs_hsum(vs_t v)
{
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
/* float32 axpy through float64: the product is exact, one rounding to float32
 * after the sum (no overflow of alpha*x where the result fits). */
static inline vs_t vs_axpy(vs_t a, vs_t x, vs_t y)
{
    v128_t lo = wasm_f64x2_add(wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(a),
                                              wasm_f64x2_promote_low_f32x4(x)),
                               wasm_f64x2_promote_low_f32x4(y));
    v128_t ah = wasm_i32x4_shuffle(a, a, 2, 3, 2, 3), xh = wasm_i32x4_shuffle(x, x, 2, 3, 2, 3);
    v128_t yh = wasm_i32x4_shuffle(y, y, 2, 3, 2, 3);
    v128_t hi = wasm_f64x2_add(wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(ah),
                                              wasm_f64x2_promote_low_f32x4(xh)),
                               wasm_f64x2_promote_low_f32x4(yh));
    return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi),
                              0, 1, 4, 5);
}
static inline vd_t vd_loadn(const eh_f64 *p, uint64_t n) { return wasm_f64x2_make(n ? p[0] : 0.0, 0.0); }
static inline void vd_storen(eh_f64 *p, vd_t v, uint64_t n)
{
    if (n)
        p[0] = wasm_f64x2_extract_lane(v, 0);
}
static inline double vd_hsum(vd_t v) { return wasm_f64x2_extract_lane(v, 0) + wasm_f64x2_extract_lane(v, 1); }
#define vd_axpy vd_fma

#else
/* ------------------------------------------------------ portable (8 lanes) */
enum { VS_W = 8, VD_W = 8 };
typedef struct { float x[VS_W]; } vs_t;
typedef struct { double x[VD_W]; } vd_t;
#define VD_AXPY_EXACT 0
#define EH_VEC_PORTABLE_OPS(p, T, TU, W)                                                       \
    static inline p##_t p##_zero(void)                                                        \
    {                                                                                         \
        p##_t r;                                                                              \
        for (int i = 0; i < W; i++)                                                           \
            r.x[i] = 0;                                                                       \
        return r;                                                                             \
    }                                                                                         \
    static inline p##_t p##_set1(T v)                                                         \
    {                                                                                         \
        p##_t r;                                                                              \
        for (int i = 0; i < W; i++)                                                           \
            r.x[i] = v;                                                                       \
        return r;                                                                             \
    }                                                                                         \
    static inline p##_t p##_loadn(const TU *p, uint64_t n)                                    \
    {                                                                                         \
        p##_t r = p##_zero();                                                                 \
        for (uint64_t i = 0; i < n; i++)                                                      \
            r.x[i] = p[i];                                                                    \
        return r;                                                                             \
    }                                                                                         \
    static inline p##_t p##_load(const TU *p) { return p##_loadn(p, W); }                    \
    static inline void p##_storen(TU *p, p##_t v, uint64_t n)                                 \
    {                                                                                         \
        for (uint64_t i = 0; i < n; i++)                                                      \
            p[i] = v.x[i];                                                                    \
    }                                                                                         \
    static inline void p##_store(TU *p, p##_t v) { p##_storen(p, v, W); }                     \
    static inline p##_t p##_add(p##_t a, p##_t b)                                             \
    {                                                                                         \
        for (int i = 0; i < W; i++)                                                           \
            a.x[i] += b.x[i];                                                                 \
        return a;                                                                             \
    }                                                                                         \
    static inline p##_t p##_sub(p##_t a, p##_t b)                                             \
    {                                                                                         \
        for (int i = 0; i < W; i++)                                                           \
            a.x[i] -= b.x[i];                                                                 \
        return a;                                                                             \
    }                                                                                         \
    static inline p##_t p##_fma(p##_t a, p##_t b, p##_t c)                                    \
    {                                                                                         \
        for (int i = 0; i < W; i++)                                                           \
            c.x[i] += a.x[i] * b.x[i];                                                        \
        return c;                                                                             \
    }                                                                                         \
    static inline T p##_hsum(p##_t v)                                                         \
    {                                                                                         \
        return ((v.x[0] + v.x[1]) + (v.x[2] + v.x[3])) + ((v.x[4] + v.x[5]) + (v.x[6] + v.x[7])); \
    }
EH_VEC_PORTABLE_OPS(vs, float, eh_f32, VS_W)
EH_VEC_PORTABLE_OPS(vd, double, eh_f64, VD_W)
#undef EH_VEC_PORTABLE_OPS
/* float32 axpy through float64 (exact product, one rounding to float32). */
static inline vs_t vs_axpy(vs_t a, vs_t x, vs_t y)
{
    for (int i = 0; i < VS_W; i++)
        y.x[i] = (float)((double)a.x[i] * (double)x.x[i] + (double)y.x[i]);
    return y;
}
#define vd_axpy vd_fma
#endif

#ifndef VS_HAVE_REDUCE4 /* the layers without a shuffle network for it */
static inline void vs_reduce4(vs_t a, vs_t b, vs_t c, vs_t d, float out[4])
{
    out[0] = vs_hsum(a);
    out[1] = vs_hsum(b);
    out[2] = vs_hsum(c);
    out[3] = vs_hsum(d);
}
#endif

#endif
