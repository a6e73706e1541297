/* Opens an instruction-set region: the code up to kernels/isa/end.h is
 * compiled for level EH_ISA (isa.h), which the including file defines first:
 *
 *     #define EH_ISA EH_ISA_AVX2
 *     #include "kernels/isa/begin.h"
 *     #if EH_ISA_ON
 *     ... code for that level (intrinsics, a shared template) ...
 *     #endif
 *     #include "kernels/isa/end.h"
 *
 * EH_ISA_ON is 1 when this build compiles the level (EH_ISA_COMPILED), else
 * the region is left out. Inside it, besides the intrinsics headers, the bit
 * helpers the block algorithms share (simdjson's bitmanipulation.h):
 *   eh_prefix_xor(x)  bit i = xor of bits 0..i (carry-less multiply by ~0, or shifts)
 *   eh_tz(x)          trailing zeros, 64 for 0
 *   eh_blsr(x)        x with its lowest set bit cleared
 *   eh_popcnt(x)      set bits (no libgcc call: the guest links without it)
 *   eh_flatten(o, base, m, cnt)  writes base + the position of each of the cnt
 *                     set bits of m to o[0..cnt) (any address), storing up to
 *                     64 entries (callers leave that much room)
 * One region per file: the target attribute applies to every function after
 * begin.h (GCC's target pragma, clang's attribute push) up to end.h. */
#ifndef EH_ISA
#error "define EH_ISA (kernels/isa/isa.h) before including kernels/isa/begin.h"
#endif
#ifdef EH_ISA_ON
#error "kernels/isa/begin.h: one ISA region per file (end.h closes it)"
#endif
#include <stdint.h>
#include "kernels/isa/isa.h"

#define EH_ISA_ON EH_ISA_COMPILED(EH_ISA)

#if EH_ISA_ON && EH_ISA >= EH_ISA_SSE42
#if EH_ISA == EH_ISA_SSE42
#define EH_ISA_TARGET EH_ISA_SSE42_TARGET
#elif EH_ISA == EH_ISA_CLMUL
#define EH_ISA_TARGET EH_ISA_CLMUL_TARGET
#elif EH_ISA == EH_ISA_AVX2
#define EH_ISA_TARGET EH_ISA_AVX2_TARGET
#elif EH_ISA == EH_ISA_AVX2_VPCLMUL
#define EH_ISA_TARGET EH_ISA_AVX2_VPCLMUL_TARGET
#elif EH_ISA == EH_ISA_AVX512
#define EH_ISA_TARGET EH_ISA_AVX512_TARGET
#elif EH_ISA == EH_ISA_AVX512_VPCLMUL
#define EH_ISA_TARGET EH_ISA_AVX512_VPCLMUL_TARGET
#else
#error "kernels/isa/begin.h: unknown EH_ISA"
#endif
#define EH_ISA_PRAGMA_(x) _Pragma(#x)
#define EH_ISA_PRAGMA(x) EH_ISA_PRAGMA_(x)
#if defined(__clang__)
EH_ISA_PRAGMA(clang attribute push(__attribute__((target(EH_ISA_TARGET))), apply_to = function))
#else
EH_ISA_PRAGMA(GCC push_options)
EH_ISA_PRAGMA(GCC target(EH_ISA_TARGET))
#endif
#include <immintrin.h>

#if EH_ISA >= EH_ISA_CLMUL
static inline uint64_t eh_prefix_xor(uint64_t x)
{
    __m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)x), _mm_set1_epi8(-1), 0);
    return (uint64_t)_mm_cvtsi128_si64(r);
}
#endif
static inline int eh_popcnt(uint64_t x) { return (int)_mm_popcnt_u64(x); }
#if EH_ISA >= EH_ISA_AVX2
static inline uint64_t eh_tz(uint64_t x) { return _tzcnt_u64(x); }
static inline uint64_t eh_blsr(uint64_t x) { return _blsr_u64(x); }
#else
static inline uint64_t eh_tz(uint64_t x) { return x ? (uint64_t)__builtin_ctzll(x) : 64; }
static inline uint64_t eh_blsr(uint64_t x) { return x & (x - 1); }
#endif

#elif EH_ISA_ON /* PORTABLE or SIMD128 */
#if EH_ISA == EH_ISA_SIMD128
#include <wasm_simd128.h>
#endif
static inline uint64_t eh_prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}
static inline uint64_t eh_tz(uint64_t x) { return x ? (uint64_t)__builtin_ctzll(x) : 64; }
static inline uint64_t eh_blsr(uint64_t x) { return x & (x - 1); }
#if EH_ISA == EH_ISA_SIMD128
static inline int eh_popcnt(uint64_t x) { return __builtin_popcountll(x); } /* i64.popcnt */
#else
static inline int eh_popcnt(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}
#endif
#endif

#if EH_ISA_ON
#include "kernels/dispatch.h"
#if EH_ISA >= EH_ISA_AVX512
/* Dword compress, 16 mask bits at a time, each group stored whole (64
 * bytes): branch-free, which beats a tzcnt loop once counts vary per block. */
static inline void eh_flatten(eh_u32 *o, uint32_t base, uint64_t m, int cnt)
{
    (void)cnt;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int)base), iota);
    for (int g = 0; g < 4; g++) {
        __mmask16 k = (__mmask16)(m >> (16 * g));
        _mm512_storeu_si512((void *)o, _mm512_maskz_compress_epi32(k, pos));
        o += _mm_popcnt_u32(k);
        pos = _mm512_add_epi32(pos, _mm512_set1_epi32(16));
    }
}
#else
/* Eight positions unconditionally, then the rest (most blocks have few). */
static inline void eh_flatten(eh_u32 *o, uint32_t base, uint64_t m, int cnt)
{
    for (int i = 0; i < 8; i++) {
        o[i] = base + (uint32_t)eh_tz(m);
        m = eh_blsr(m);
    }
    if (cnt > 8) {
        for (int i = 8; i < 16; i++) {
            o[i] = base + (uint32_t)eh_tz(m);
            m = eh_blsr(m);
        }
        for (int i = 16; i < cnt; i++) {
            o[i] = base + (uint32_t)eh_tz(m);
            m = eh_blsr(m);
        }
    }
}
#endif
#endif
