/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78) variants.
 *
 * Every variant computes crc32c(seed, data) with one convention: seed is a
 * previous result (0 to start) and the pre/post inversion is done inside, so
 * crc(a+b) == crc(b, seed=crc(a)).  Any length, any alignment; a variant
 * reads exactly [p, p+n).
 *
 * Variants, generic first (the dispatcher picks the last the CPU can run):
 *   byte    one table lookup per byte (the reference)
 *   slice8  slicing-by-8 tables
 *   slice16 slicing-by-16 tables (the best portable one: wasm32, old CPUs)
 *   sse42   crc32 instruction, three interleaved streams combined by shift tables
 *   pclmul  SSE PCLMULQDQ folding of 4x16 bytes beside 3 crc32 chains (hybrid)
 *   fold256 VPCLMULQDQ folding on ymm alone: the multiplier's own speed, for
 *           the benchmark (never chosen automatically: avx2 needs the same)
 *   avx2    VPCLMULQDQ folding on ymm, 4x32 bytes beside 3 crc32 chains; needs
 *           VPCLMULQDQ besides AVX2 (Zen 3, Ice Lake client, Alder Lake)
 *   avx512  VPCLMULQDQ folding on zmm, 4x64 bytes beside 3 crc32 chains
 * The three folding variants are one template (crc32c_fold_tpl.h).
 *
 * Tables are built by eh_crc32c_init(); every variant assumes it ran. */
#ifndef EH_KERNELS_CRC32C_H
#define EH_KERNELS_CRC32C_H
#include <stdint.h>

#define EH_CRC32C_POLY 0x82F63B78u

typedef uint32_t (*eh_crc32c_fn)(uint32_t seed, const uint8_t *p, uint64_t n);

/* --- GF(2) arithmetic modulo P in the reflected representation: bit i of a
 * uint32_t is the coefficient of x^(31-i) (crc32c_gf2.c). --- */
uint32_t eh_crc32c_mulmod(uint32_t a, uint32_t b);
uint32_t eh_crc32c_xpow(uint64_t n);          /* x^n mod P */

/* A linear map "advance a CRC register over len zero bytes" as 4x256 tables. */
typedef struct eh_crc32c_shift {
    uint32_t t[4][256];
} eh_crc32c_shift;
void eh_crc32c_shift_init(eh_crc32c_shift *s, uint64_t len);
static inline uint32_t eh_crc32c_shift_apply(const eh_crc32c_shift *s, uint32_t r)
{
    return s->t[0][r & 0xff] ^ s->t[1][(r >> 8) & 0xff] ^ s->t[2][(r >> 16) & 0xff] ^
           s->t[3][r >> 24];
}

/* A 64-bit folding constant: x^e mod P placed so that a carry-less multiply
 * of a reflected 64-bit lane by it yields lane * x^(e+1) (the extra x is the
 * reflected product's). */
static inline uint64_t eh_crc32c_fold_k(uint64_t e) { return (uint64_t)eh_crc32c_xpow(e) << 32; }

/* --- table construction (called from eh_crc32c_init) --- */
void eh_crc32c_generic_init(void);
void eh_crc32c_sse42_init(void);
void eh_crc32c_fold_init(void);

/* Slicing tables: [0] is the byte table; [k][i] is byte i followed by k zeros. */
extern uint32_t eh_crc32c_table[16][256];

uint32_t eh_crc32c_byte(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_slice8(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_slice16(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_sse42(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_pclmul(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_fold256(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_avx2(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_avx512(uint32_t seed, const uint8_t *p, uint64_t n);

/* Raw-register helpers (no inversion), shared by the x86 variants. */
uint32_t eh_crc32c_sse42_raw(uint32_t r, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_tail3_raw(uint32_t r, const uint8_t *p, uint64_t n); /* needs PCLMUL */

/* The active variant, chosen by eh_crc32c_init or eh_crc32c_set_variant. */
uint32_t eh_crc32c(uint32_t seed, const uint8_t *p, uint64_t n);
const char *eh_crc32c_variant(void);
int eh_crc32c_set_variant(const char *name);
const char *eh_crc32c_variant_name(int i);
int eh_crc32c_variant_ok(int i);

#endif
