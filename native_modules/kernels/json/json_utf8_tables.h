/* UTF-8 validation by three nibble lookups (Keiser & Lemire, "Validating
 * UTF-8 in less than one instruction per byte", 2021). For each byte `cur`
 * with predecessors prev1..prev3:
 *     e = HI1[prev1 >> 4] & LO1[prev1 & 15] & HI2[cur >> 4]
 * has a bit set for every two-byte error pattern the pair matches; the one
 * legal pattern among them, TWO_CONTS (continuation after continuation), is
 * cancelled by xor-ing 0x80 where cur must be the 2nd/3rd continuation
 * (prev2 >= 0xE0 or prev3 >= 0xF0). Any bit left is an error, reported at
 * the pair's second byte. Tables derived here from the bit meanings below;
 * the scalar variant evaluates the same formula byte by byte. */
#ifndef EH_KERNELS_JSON_UTF8_TABLES_H
#define EH_KERNELS_JSON_UTF8_TABLES_H
#include <stdint.h>

#define U8_TOO_SHORT (1 << 0)   /* 11______ then 0_______ or 11______           */
#define U8_TOO_LONG (1 << 1)    /* 0_______ then 10______                        */
#define U8_OVERLONG_3 (1 << 2)  /* 11100000 100_____                             */
#define U8_TOO_LARGE (1 << 3)   /* 11110100 1001____ .. 1011____, or lead >= F5   */
#define U8_SURROGATE (1 << 4)   /* 11101101 101_____                             */
#define U8_OVERLONG_2 (1 << 5)  /* 1100000_ 10______                             */
#define U8_TOO_LARGE_1000 (1 << 6) /* lead >= F5 then 1000____                    */
#define U8_OVERLONG_4 (1 << 6)  /* 11110000 1000____ (shares the bit: same byte 2) */
#define U8_TWO_CONTS (1 << 7)   /* 10______ 10______                             */
#define U8_CARRY (U8_TOO_SHORT | U8_TOO_LONG | U8_TWO_CONTS)

static const uint8_t eh_u8_hi1[16] = {
    U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
    U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
    U8_TWO_CONTS, U8_TWO_CONTS, U8_TWO_CONTS, U8_TWO_CONTS,
    U8_TOO_SHORT | U8_OVERLONG_2,
    U8_TOO_SHORT,
    U8_TOO_SHORT | U8_OVERLONG_3 | U8_SURROGATE,
    U8_TOO_SHORT | U8_TOO_LARGE | U8_TOO_LARGE_1000 | U8_OVERLONG_4,
};

static const uint8_t eh_u8_lo1[16] = {
    U8_CARRY | U8_OVERLONG_3 | U8_OVERLONG_2 | U8_OVERLONG_4,
    U8_CARRY | U8_OVERLONG_2,
    U8_CARRY,
    U8_CARRY,
    U8_CARRY | U8_TOO_LARGE,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000 | U8_SURROGATE,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
    U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
};

static const uint8_t eh_u8_hi2[16] = {
    U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
    U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 | U8_TOO_LARGE_1000 | U8_OVERLONG_4,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 | U8_TOO_LARGE,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE | U8_TOO_LARGE,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE | U8_TOO_LARGE,
    U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
};

/* The formula over one x86 vector v (a statement expression): t holds the
 * bytes before v laid out so that alignr(v, t, 16 - k) is v moved k bytes
 * back in every 128-bit lane. PFX / SI name the width (_mm256 / si256 or
 * _mm512 / si512); TBL(t) broadcasts a 16-byte table to every lane. The
 * result has a bit set in each byte that ends a bad sequence. */
#define EH_U8_ERRORS_X86(PFX, SI, V, TBL, v, t)                                               \
    ({                                                                                        \
        const V nib_ = PFX##_set1_epi8(0x0f);                                                 \
        V p1_ = PFX##_alignr_epi8(v, t, 15), p2_ = PFX##_alignr_epi8(v, t, 14);               \
        V p3_ = PFX##_alignr_epi8(v, t, 13);                                                  \
        V e_ = PFX##_and_##SI(                                                                \
            PFX##_and_##SI(                                                                   \
                PFX##_shuffle_epi8(TBL(eh_u8_hi1), PFX##_and_##SI(PFX##_srli_epi16(p1_, 4), nib_)), \
                PFX##_shuffle_epi8(TBL(eh_u8_lo1), PFX##_and_##SI(p1_, nib_))),              \
            PFX##_shuffle_epi8(TBL(eh_u8_hi2), PFX##_and_##SI(PFX##_srli_epi16(v, 4), nib_))); \
        V third_ = PFX##_subs_epu8(p2_, PFX##_set1_epi8((char)(0xE0 - 0x80)));                \
        V fourth_ = PFX##_subs_epu8(p3_, PFX##_set1_epi8((char)(0xF0 - 0x80)));               \
        PFX##_xor_##SI(e_, PFX##_and_##SI(PFX##_or_##SI(third_, fourth_),                     \
                                          PFX##_set1_epi8((char)0x80)));                      \
    })

#endif
