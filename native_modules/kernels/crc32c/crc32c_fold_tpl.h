/* CRC32C by carry-less multiply folding run side by side with the crc32
 * instruction ("hybrid"), one algorithm for every vector width; included
 * once per ISA inside its kernels/isa/begin.h region (zlib-ng's
 * crc32_pclmulqdq_tpl.h). The including file defines:
 *   CRC_VW         vector bytes: 16 (PCLMULQDQ, xmm), 32 (VPCLMULQDQ, ymm),
 *                  64 (VPCLMULQDQ, zmm)
 *   CRC_MIN_STEPS  fewest steps a hybrid pass is worth (below: folding alone
 *                  or the crc32 path)
 *   CRC_FOLD_ONLY  1: bytes a pass leaves, from 8*CRC_VW on, are folded
 *                  without crc32 streams; 0: they go to the crc32 path
 *   CRC_FN         the variant: uint32_t CRC_FN(uint32_t seed, const uint8_t *p, uint64_t n)
 *
 * Folding (invariant in crc32c_fold.h): four accumulators of CRC_VW bytes
 * each advance VB = 4*CRC_VW bytes per step. A hybrid pass of m steps splits
 * its bytes into
 *     [ V: m*VB bytes | S1 | S2 | S3: m*SB bytes each ]
 * V is folded while three crc32 chains walk S1..S3 in the same loop (each
 * from a zero register: the multiplier and the crc32 unit are separate
 * ports, so the streams come almost free); then
 *     reg = shift(shift(shift(reg(V)) ^ s1) ^ s2) ^ s3,
 * each shift advancing a register over m*SB bytes by one clmul and one crc32.
 * Inputs shorter than a pass, and what passes leave, take folding alone
 * (CRC_FOLD_ONLY) and then eh_crc32c_tail3_raw (three crc32 chains). */
#include "kernels/crc32c/crc32c.h"
#include "kernels/crc32c/crc32c_fold.h"

#define VB (4u * CRC_VW)
#define SB EH_CRC32C_HYB_SB

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}

static inline __m128i k128(eh_crc32c_k k) { return _mm_set_epi64x((long long)k.hi, (long long)k.lo); }

static inline __m128i fold128(__m128i x, __m128i k, __m128i d)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                                       _mm_clmulepi64_si128(x, k, 0x11)), d);
}

/* The vector layer: crc_v holds CRC_VW bytes (CRC_VW / 16 lanes of 128 bits,
 * the first the oldest); crc_fold advances every lane by the distance k was
 * made for and adds d; crc_to128 folds the lanes into one. */
#if CRC_VW == 16
typedef __m128i crc_v;
static inline crc_v crc_ld(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline crc_v crc_k(eh_crc32c_k k) { return k128(k); }
static inline crc_v crc_fold(crc_v x, crc_v k, crc_v d) { return fold128(x, k, d); }
static inline crc_v crc_seed(crc_v x, uint32_t r) { return _mm_xor_si128(x, _mm_cvtsi32_si128((int)r)); }
static inline __m128i crc_to128(crc_v y) { return y; }
#elif CRC_VW == 32
typedef __m256i crc_v;
static inline crc_v crc_ld(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline crc_v crc_k(eh_crc32c_k k) { return _mm256_broadcastsi128_si256(k128(k)); }
static inline crc_v crc_fold(crc_v x, crc_v k, crc_v d)
{
    return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
                                             _mm256_clmulepi64_epi128(x, k, 0x11)), d);
}
static inline crc_v crc_seed(crc_v x, uint32_t r)
{
    return _mm256_xor_si256(x, _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, (int)r));
}
static inline __m128i crc_to128(crc_v y)
{
    return fold128(_mm256_castsi256_si128(y), k128(eh_crc32c_kdist[0]),
                   _mm256_extracti128_si256(y, 1));
}
#elif CRC_VW == 64
typedef __m512i crc_v;
static inline crc_v crc_ld(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }
static inline crc_v crc_k(eh_crc32c_k k) { return _mm512_broadcast_i32x4(k128(k)); }
static inline crc_v crc_fold(crc_v x, crc_v k, crc_v d)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), d, 0x96);
}
static inline crc_v crc_seed(crc_v x, uint32_t r)
{
    return _mm512_xor_si512(x, _mm512_maskz_set1_epi32(1, (int)r));
}
static inline __m128i crc_to128(crc_v y)
{
    const __m128i k16 = k128(eh_crc32c_kdist[0]);
    __m128i z = _mm512_castsi512_si128(y);
    z = fold128(z, k16, _mm512_extracti32x4_epi32(y, 1));
    z = fold128(z, k16, _mm512_extracti32x4_epi32(y, 2));
    return fold128(z, k16, _mm512_extracti32x4_epi32(y, 3));
}
#else
#error "crc32c_fold_tpl.h: CRC_VW must be 16, 32 or 64"
#endif

/* eh_crc32c_kdist[i] folds over 16 << i bytes. */
#define KD_VW (CRC_VW == 16 ? 0 : CRC_VW == 32 ? 1 : 2) /* one vector  */
#define KD_VB (KD_VW + 2)                                /* four vectors */

/* One vector (its lanes the oldest first) -> the 32-bit register. */
static inline uint32_t reduce(crc_v y)
{
    __m128i z = crc_to128(y);
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(z));
    return (uint32_t)_mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(z, 1));
}

/* Four accumulators -> one vector (x[0] oldest). */
static inline crc_v merge4(const crc_v x[4])
{
    const crc_v k = crc_k(eh_crc32c_kdist[KD_VW]);
    return crc_fold(crc_fold(crc_fold(x[0], k, x[1]), k, x[2]), k, x[3]);
}

static inline uint32_t shift(uint32_t r, uint32_t k)
{
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)k), 0);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(p));
}

#if CRC_VW == 32
/* The ymm hybrid step in a fixed instruction order: each fold is followed
 * by one or two rows of the three crc32 chains (fold, row, fold, row, row,
 * fold, row, fold, row), and the loop runs two steps per iteration. Written
 * as asm statements because the compiler otherwise emits the 15 crc32 of a
 * step back to back, and on Zen 3 (EPYC family 25 model 1) this order runs
 * 8-11 % faster from 16 KiB to 1 MiB, timed beside the compiler's order (the
 * README's CRC32C note). The arithmetic is crc_fold's and the other widths', operand for
 * operand: lo = clmul(x.lo, k.lo), hi = clmul(x.hi, k.hi), x' = hi ^ (lo ^ d). */
typedef uint64_t crc_u64u __attribute__((aligned(1), may_alias));
typedef __m256i crc_m256u __attribute__((aligned(1), may_alias));
#define ASM_FOLD(x, q)                                                                       \
    do {                                                                                     \
        __m256i lo_, hi_;                                                                    \
        __asm__ volatile("vpclmulqdq $0x00, %1, %2, %0" : "=x"(lo_) : "x"(kstep), "x"(x));   \
        __asm__ volatile("vpclmulqdq $0x11, %1, %2, %0" : "=x"(hi_) : "x"(kstep), "x"(x));   \
        __asm__ volatile("vpxor %1, %0, %0" : "+x"(lo_) : "m"(*(const crc_m256u *)(q)));     \
        __asm__ volatile("vpxor %1, %0, %0" : "+x"(hi_) : "x"(lo_));                         \
        x = hi_;                                                                             \
    } while (0)
#define ASM_ROW(b)                                                                            \
    do {                                                                                      \
        __asm__ volatile("crc32q %1, %0" : "+r"(c1) : "m"(*(const crc_u64u *)(s1 + (b))));    \
        __asm__ volatile("crc32q %1, %0" : "+r"(c2) : "m"(*(const crc_u64u *)(s2 + (b))));    \
        __asm__ volatile("crc32q %1, %0" : "+r"(c3) : "m"(*(const crc_u64u *)(s3 + (b))));    \
    } while (0)
/* Step i of an iteration: vector bytes p + i*VB, stream bytes + i*SB. */
#define ASM_STEP(i)                                 \
    do {                                            \
        ASM_FOLD(x0, p + (i) * VB);                 \
        ASM_ROW((i) * SB);                          \
        ASM_FOLD(x1, p + (i) * VB + CRC_VW);        \
        ASM_ROW((i) * SB + 8);                      \
        ASM_ROW((i) * SB + 16);                     \
        ASM_FOLD(x2, p + (i) * VB + 2 * CRC_VW);    \
        ASM_ROW((i) * SB + 24);                     \
        ASM_FOLD(x3, p + (i) * VB + 3 * CRC_VW);    \
        ASM_ROW((i) * SB + 32);                     \
    } while (0)
_Static_assert(SB == 40, "ASM_STEP walks SB = 5 rows of 8 bytes");
#endif

/* m steps (CRC_MIN_STEPS <= m <= MAXM) over m*(VB+3*SB) bytes; raw registers.
 * (Unused where CRC_MIN_STEPS rules passes out: the fold-only measurement.) */
__attribute__((unused)) static uint32_t hybrid_pass(uint32_t r, const uint8_t *p, uint64_t m)
{
    const crc_v kstep = crc_k(eh_crc32c_kdist[KD_VB]);
    const uint8_t *s1 = p + m * VB, *s2 = s1 + m * SB, *s3 = s2 + m * SB;
    crc_v x[4];
    for (int i = 0; i < 4; i++)
        x[i] = crc_ld(p + CRC_VW * i);
    x[0] = crc_seed(x[0], r);
    p += VB;
    uint64_t c1 = 0, c2 = 0, c3 = 0;
#if CRC_VW == 32
    crc_v x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    uint64_t j = 1;
    for (; j + 1 < m; j += 2, p += 2 * VB, s1 += 2 * SB, s2 += 2 * SB, s3 += 2 * SB) {
        ASM_STEP(0);
        ASM_STEP(1);
    }
    if (j < m) {
        ASM_STEP(0);
        s1 += SB;
        s2 += SB;
        s3 += SB;
    }
    ASM_ROW(0);
    ASM_ROW(8);
    ASM_ROW(16);
    ASM_ROW(24);
    ASM_ROW(32);
    x[0] = x0;
    x[1] = x1;
    x[2] = x2;
    x[3] = x3;
#else
    for (uint64_t j = 1; j < m; j++, p += VB) {
        for (int i = 0; i < 4; i++)
            x[i] = crc_fold(x[i], kstep, crc_ld(p + CRC_VW * i));
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
#endif
    uint32_t k = eh_crc32c_kshift[m];
    r = reduce(merge4(x));
    r = shift(r, k) ^ (uint32_t)c1;
    r = shift(r, k) ^ (uint32_t)c2;
    return shift(r, k) ^ (uint32_t)c3;
}

#if CRC_FOLD_ONLY
/* Folding alone over n >= 2*VB bytes, down to fewer than CRC_VW; returns the
 * raw register and advances *pp, *pn. */
static uint32_t fold_only(uint32_t r, const uint8_t **pp, uint64_t *pn)
{
    const uint8_t *p = *pp;
    uint64_t n = *pn;
    const crc_v kstep = crc_k(eh_crc32c_kdist[KD_VB]), kvw = crc_k(eh_crc32c_kdist[KD_VW]);
    crc_v x[4];
    for (int i = 0; i < 4; i++)
        x[i] = crc_ld(p + CRC_VW * i);
    x[0] = crc_seed(x[0], r);
    p += VB;
    n -= VB;
    for (; n >= VB; n -= VB, p += VB)
        for (int i = 0; i < 4; i++)
            x[i] = crc_fold(x[i], kstep, crc_ld(p + CRC_VW * i));
    crc_v y = merge4(x);
    for (; n >= CRC_VW; n -= CRC_VW, p += CRC_VW)
        y = crc_fold(y, kvw, crc_ld(p));
    *pp = p;
    *pn = n;
    return reduce(y);
}
#endif

uint32_t CRC_FN(uint32_t seed, const uint8_t *p, uint64_t n)
{
    const uint64_t step = VB + 3 * SB;
    uint32_t r = ~seed;
    while (n / step >= CRC_MIN_STEPS) {
        uint64_t m = n / step;
        if (m > EH_CRC32C_HYB_MAXM)
            m = EH_CRC32C_HYB_MAXM;
        r = hybrid_pass(r, p, m);
        p += m * step;
        n -= m * step;
    }
#if CRC_FOLD_ONLY
    if (n >= 2 * VB)
        r = fold_only(r, &p, &n);
#endif
    return ~(n < 3 * 8 * EH_CRC32C_TAIL_MAXJ ? eh_crc32c_tail3_raw(r, p, n)
                                             : eh_crc32c_sse42_raw(r, p, n));
}

#if CRC_VW == 32
#undef ASM_FOLD
#undef ASM_ROW
#undef ASM_STEP
#endif
#undef VB
#undef SB
#undef KD_VW
#undef KD_VB
