/* CSV indexing, WebAssembly SIMD128 ("simd128"): the shared bit-parallel
 * block algorithm with four 16-byte compares per mask; the prefix xor by
 * shifts (no carry-less multiply in WASM). Built only for wasm32 with
 * -msimd128; elsewhere the variant is never selectable (see csv.c). */
#define EH_ISA EH_ISA_SIMD128
#include "kernels/isa/begin.h"
#include "kernels/csv/csv.h"
#if EH_ISA_ON
#include "kernels/csv/csv_simd.h"

static inline uint64_t eq64(const v128_t v[4], uint8_t c)
{
    v128_t k = wasm_i8x16_splat((int8_t)c);
    uint64_t m = 0;
    for (int i = 0; i < 4; i++)
        m |= (uint64_t)wasm_i8x16_bitmask(wasm_i8x16_eq(v[i], k)) << (16 * i);
    return m;
}

static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q, csv_masks *m)
{
    v128_t v[4];
    for (int i = 0; i < 4; i++)
        v[i] = wasm_v128_load(p + 16 * i);
    m->q = eq64(v, q);
    m->d = eq64(v, d);
    m->n = eq64(v, '\n');
    m->r = eq64(v, '\r');
}

CSV_SIMD_VARIANT(eh_csv_index_simd128)
#endif
#include "kernels/isa/end.h"
