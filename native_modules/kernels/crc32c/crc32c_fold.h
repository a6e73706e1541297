/* Folding constants shared by the PCLMULQDQ and VPCLMULQDQ variants
 * (crc32c_fold_tpl.h).
 *
 * Invariant (reflected domain, bit i of a 128-bit lane = x^(127-i)): a lane X
 * holding 16 message bytes is advanced N bits (past N/8 later bytes) by
 *     X' = clmul(X.lo, k.lo) ^ clmul(X.hi, k.hi)   with
 *     k.lo = x^(64+N-1) mod P, k.hi = x^(N-1) mod P  (see eh_crc32c_fold_k),
 * and X' is congruent to X * x^N mod P -- not reduced, but the CRC of a
 * 16-byte message only depends on it mod P. So after folding everything into
 * one lane, crc = crc32_u64(crc32_u64(0, X.lo), X.hi). */
#ifndef EH_KERNELS_CRC32C_FOLD_H
#define EH_KERNELS_CRC32C_FOLD_H
#include <stdint.h>

typedef struct eh_crc32c_k {
    uint64_t lo, hi;
} eh_crc32c_k;

/* eh_crc32c_kdist[i]: the constants that fold over 16 << i bytes (16 .. 256). */
#define EH_CRC32C_KDIST 5
extern eh_crc32c_k eh_crc32c_kdist[EH_CRC32C_KDIST];

/* Shifting a 32-bit register r over len zero bytes with one clmul and one
 * crc32: r in the low 32 bits of a lane represents r*x^32, likewise k, and the
 * reflected product is r*k*x^65, i.e. a low qword worth r*k*x; crc32_u64(0, q)
 * multiplies by x^32 more. So k = x^(8 len - 33) mod P gives r * x^(8 len).
 * eh_crc32c_kshift[m] is that k for len = m * EH_CRC32C_HYB_SB. */
#define EH_CRC32C_HYB_SB 40u    /* bytes per scalar stream per hybrid step */
#define EH_CRC32C_HYB_MAXM 2048 /* most steps per pass                     */
extern uint32_t eh_crc32c_kshift[EH_CRC32C_HYB_MAXM + 1];

/* eh_crc32c_kshift8[j]: the same k for len = 8 j bytes (1 <= j <= TAIL_MAXJ),
 * for the three-chain tails of short inputs. */
#define EH_CRC32C_TAIL_MAXJ 128
extern uint32_t eh_crc32c_kshift8[EH_CRC32C_TAIL_MAXJ + 1];

#endif
