/* CRC32C by SSE PCLMULQDQ folding (invariant in crc32c_fold.h) beside the
 * crc32 instruction, in hybrid passes like the AVX-512 variant (see there):
 * per step four 16-byte lanes advance 64 bytes while three crc32 chains take
 * SB bytes each; the lanes are merged into one, reduced by crc32, and the
 * chains combined by clmul shifts. Folding alone loses to crc32 on CPUs whose
 * multiplier issues every other cycle, so short inputs and tails take the
 * SSE4.2 path. */
#ifdef __x86_64__
#pragma GCC target("sse4.2,pclmul")
#include <nmmintrin.h>
#include <wmmintrin.h>
#include "kernels/crc32c/crc32c.h"
#include "kernels/crc32c/crc32c_fold.h"

static inline __m128i kvec(eh_crc32c_k k) { return _mm_set_epi64x((long long)k.hi, (long long)k.lo); }

static inline __m128i ld(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }

static inline __m128i fold(__m128i x, __m128i k, __m128i d)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                                       _mm_clmulepi64_si128(x, k, 0x11)), d);
}

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}

static inline uint32_t shift(uint32_t r, uint32_t k)
{
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)k), 0);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(p));
}

#define VB 64u
#define SB EH_CRC32C_HYB_SB
#define MIN_STEPS 4

/* m steps over [V: m*64 | S1 | S2 | S3: m*SB each]; raw registers. */
static uint32_t hybrid_pass(uint32_t r, const uint8_t *p, uint64_t m)
{
    const __m128i k64 = kvec(eh_crc32c_k64), k16 = kvec(eh_crc32c_k16);
    const uint8_t *s1 = p + m * VB, *s2 = s1 + m * SB, *s3 = s2 + m * SB;
    __m128i x0 = _mm_xor_si128(ld(p), _mm_cvtsi32_si128((int)r));
    __m128i x1 = ld(p + 16), x2 = ld(p + 32), x3 = ld(p + 48);
    uint64_t c1 = 0, c2 = 0, c3 = 0;
    for (uint64_t j = 0; j < m; j++) {
        if (j) {
            p += VB;
            x0 = fold(x0, k64, ld(p));
            x1 = fold(x1, k64, ld(p + 16));
            x2 = fold(x2, k64, ld(p + 32));
            x3 = fold(x3, k64, ld(p + 48));
        }
        for (unsigned b = 0; b < SB; b += 8) {
            c1 = _mm_crc32_u64(c1, ld64(s1 + b));
            c2 = _mm_crc32_u64(c2, ld64(s2 + b));
            c3 = _mm_crc32_u64(c3, ld64(s3 + b));
        }
        s1 += SB;
        s2 += SB;
        s3 += SB;
    }
    x3 = fold(fold(fold(x0, k16, x1), k16, x2), k16, x3);
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x3));
    r = (uint32_t)_mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(x3, 1));
    uint32_t k = eh_crc32c_kshift[m];
    r = shift(r, k) ^ (uint32_t)c1;
    r = shift(r, k) ^ (uint32_t)c2;
    return shift(r, k) ^ (uint32_t)c3;
}

/* Short inputs and tails (up to 3 KiB): three crc32 chains over thirds of a
 * multiple of 24 bytes, merged by clmul shifts -- the 3-way idea of the
 * SSE4.2 variant without its per-length tables; under 192 bytes one chain. */
uint32_t eh_crc32c_tail3_raw(uint32_t r, const uint8_t *p, uint64_t n)
{
    if (n < 192)
        return eh_crc32c_sse42_raw(r, p, n);
    uint64_t j = n / 24 < EH_CRC32C_TAIL_MAXJ ? n / 24 : EH_CRC32C_TAIL_MAXJ;
    uint64_t len = 8 * j, c0 = r, c1 = 0, c2 = 0;
    for (uint64_t i = 0; i < len; i += 8) {
        c0 = _mm_crc32_u64(c0, ld64(p + i));
        c1 = _mm_crc32_u64(c1, ld64(p + len + i));
        c2 = _mm_crc32_u64(c2, ld64(p + 2 * len + i));
    }
    uint32_t k = eh_crc32c_kshift8[j];
    r = shift((uint32_t)c0, k) ^ (uint32_t)c1;
    r = shift(r, k) ^ (uint32_t)c2;
    return eh_crc32c_sse42_raw(r, p + 3 * len, n - 3 * len);
}

/* Hybrid passes while they pay; below that one crc32 chain (or the 3-way
 * blocks) beats folding alone, which this CPU class issues every other cycle. */
uint32_t eh_crc32c_pclmul_raw(uint32_t r, const uint8_t *p, uint64_t n)
{
    const uint64_t step = VB + 3 * SB;
    while (n >= MIN_STEPS * step) {
        uint64_t m = n / step;
        if (m > EH_CRC32C_HYB_MAXM)
            m = EH_CRC32C_HYB_MAXM;
        r = hybrid_pass(r, p, m);
        p += m * step;
        n -= m * step;
    }
    return n < 3 * EH_CRC32C_TAIL_MAXJ * 8 ? eh_crc32c_tail3_raw(r, p, n)
                                           : eh_crc32c_sse42_raw(r, p, n);
}

uint32_t eh_crc32c_pclmul(uint32_t seed, const uint8_t *p, uint64_t n)
{
    return ~eh_crc32c_pclmul_raw(~seed, p, n);
}
#endif
