/* CRC32C by AVX-512 VPCLMULQDQ folding (invariant in crc32c_fold.h), run side
 * by side with the crc32 instruction: on this class of CPU the carry-less
 * multiplier alone saturates near 16 B/cycle and the crc32 unit is idle, so a
 * hybrid pass of m steps splits its bytes into
 *     [ V: m*256 bytes | S1 | S2 | S3: m*SB bytes each ]
 * V is folded by four zmm accumulators while three crc32 chains walk S1..S3
 * in the same loop (s1..s3 start from a zero register); then
 *     reg = shift(shift(shift(reg(V)) ^ s1) ^ s2) ^ s3,
 * each shift advancing a register over m*SB bytes (crc32c_fold.h). What a pass leaves
 * (fewer bytes than a worthwhile pass) goes to plain zmm folding, then to
 * the crc32 path (also all of an input under 512 bytes, where it is faster). */
#ifdef __x86_64__
#pragma GCC target("sse4.2,pclmul,avx512f,avx512vl,vpclmulqdq")
#include <immintrin.h>
#include "kernels/crc32c/crc32c.h"
#include "kernels/crc32c/crc32c_fold.h"

#define VB EH_CRC32C_HYB_VB
#define SB EH_CRC32C_HYB_SB
#define MIN_STEPS 8

static inline __m512i kvec(eh_crc32c_k k)
{
    return _mm512_broadcast_i32x4(_mm_set_epi64x((long long)k.hi, (long long)k.lo));
}

static inline __m512i ld(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}

static inline __m512i fold(__m512i x, __m512i k, __m512i d)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), d, 0x96);
}

static inline __m128i fold1(__m128i x, __m128i k, __m128i d)
{
    return _mm_ternarylogic_epi64(_mm_clmulepi64_si128(x, k, 0x00),
                                  _mm_clmulepi64_si128(x, k, 0x11), d, 0x96);
}

/* One zmm (four lanes, the first the oldest) -> the 32-bit register. */
static inline uint32_t reduce(__m512i y)
{
    const __m128i k16 = _mm_set_epi64x((long long)eh_crc32c_k16.hi, (long long)eh_crc32c_k16.lo);
    __m128i z = _mm512_castsi512_si128(y);
    z = fold1(z, k16, _mm512_extracti32x4_epi32(y, 1));
    z = fold1(z, k16, _mm512_extracti32x4_epi32(y, 2));
    z = fold1(z, k16, _mm512_extracti32x4_epi32(y, 3));
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(z));
    return (uint32_t)_mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(z, 1));
}

/* Four accumulators -> one zmm (x[0] oldest). */
static inline __m512i merge4(const __m512i x[4])
{
    const __m512i k64 = kvec(eh_crc32c_k64);
    return fold(fold(fold(x[0], k64, x[1]), k64, x[2]), k64, x[3]);
}

static inline uint32_t shift(uint32_t r, uint32_t k)
{
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)k), 0);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(p));
}

/* m steps (MIN_STEPS <= m <= MAXM) over m*(VB+3*SB) bytes; raw registers. */
static uint32_t hybrid_pass(uint32_t r, const uint8_t *p, uint64_t m)
{
    const __m512i kstep = kvec(eh_crc32c_k256);
    const uint8_t *s1 = p + m * VB, *s2 = s1 + m * SB, *s3 = s2 + m * SB;
    __m512i x[4];
    for (int i = 0; i < 4; i++)
        x[i] = ld(p + 64 * i);
    x[0] = _mm512_xor_si512(x[0], _mm512_maskz_set1_epi32(1, (int)r));
    p += VB;
    uint64_t c1 = 0, c2 = 0, c3 = 0;
    for (uint64_t j = 1; j < m; j++, p += VB) {
        for (int i = 0; i < 4; i++)
            x[i] = fold(x[i], kstep, ld(p + 64 * i));
        for (unsigned b = 0; b < SB; b += 8) {
            c1 = _mm_crc32_u64(c1, ld64(s1 + b));
            c2 = _mm_crc32_u64(c2, ld64(s2 + b));
            c3 = _mm_crc32_u64(c3, ld64(s3 + b));
        }
        s1 += SB;
        s2 += SB;
        s3 += SB;
    }
    for (unsigned b = 0; b < SB; b += 8) {
        c1 = _mm_crc32_u64(c1, ld64(s1 + b));
        c2 = _mm_crc32_u64(c2, ld64(s2 + b));
        c3 = _mm_crc32_u64(c3, ld64(s3 + b));
    }
    uint32_t k = eh_crc32c_kshift[m];
    r = reduce(merge4(x));
    r = shift(r, k) ^ (uint32_t)c1;
    r = shift(r, k) ^ (uint32_t)c2;
    return shift(r, k) ^ (uint32_t)c3;
}

/* Plain zmm folding for n >= 512; returns the raw register. */
static uint32_t fold_only(uint32_t r, const uint8_t **pp, uint64_t *pn)
{
    const uint8_t *p = *pp;
    uint64_t n = *pn;
    const __m512i kstep = kvec(eh_crc32c_k256), k64 = kvec(eh_crc32c_k64);
    __m512i x[4];
    for (int i = 0; i < 4; i++)
        x[i] = ld(p + 64 * i);
    x[0] = _mm512_xor_si512(x[0], _mm512_maskz_set1_epi32(1, (int)r));
    p += 256;
    n -= 256;
    for (; n >= 256; n -= 256, p += 256)
        for (int i = 0; i < 4; i++)
            x[i] = fold(x[i], kstep, ld(p + 64 * i));
    __m512i y = merge4(x);
    for (; n >= 64; n -= 64, p += 64)
        y = fold(y, k64, ld(p));
    *pp = p;
    *pn = n;
    return reduce(y);
}

uint32_t eh_crc32c_avx512(uint32_t seed, const uint8_t *p, uint64_t n)
{
    const uint64_t step = VB + 3 * SB;
    uint32_t r = ~seed;
    while (n >= MIN_STEPS * step) {
        uint64_t m = n / step;
        if (m > EH_CRC32C_HYB_MAXM)
            m = EH_CRC32C_HYB_MAXM;
        r = hybrid_pass(r, p, m);
        p += m * step;
        n -= m * step;
    }
    if (n >= 512)
        r = fold_only(r, &p, &n);
    return ~eh_crc32c_tail3_raw(r, p, n);
}
#endif
