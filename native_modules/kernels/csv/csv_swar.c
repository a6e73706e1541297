/* CSV indexing, portable bit-parallel variant ("swar"): the shared block
 * algorithm with masks built 8 bytes at a time in 64-bit words and the prefix
 * xor by shifts. Plain C: the best variant where no SIMD one runs (plain
 * wasm32, CPUs without AVX2); "scalar" stays the reference state machine. */
#define EH_ISA EH_ISA_PORTABLE
#include "kernels/isa/begin.h"
#include "kernels/csv/csv.h"
#include "kernels/csv/csv_simd.h"

#define ONES 0x0101010101010101ull
#define LOW7 0x7f7f7f7f7f7f7f7full
#define HIGH 0x8080808080808080ull

/* Bit 7 of each byte set where the byte equals c (exact: no borrow crosses
 * bytes), then bit 7 of byte i moved to bit i. */
static inline uint64_t eq8(uint64_t w, uint8_t c)
{
    uint64_t x = w ^ (ONES * c);
    uint64_t hb = ~(((x & LOW7) + LOW7) | x) & HIGH;
    return ((hb >> 7) * 0x0102040810204080ull) >> 56;
}

static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q, csv_masks *m)
{
    uint64_t mq = 0, md = 0, mn = 0, mr = 0;
    for (int k = 0; k < 8; k++) {
        uint64_t w;
        __builtin_memcpy(&w, p + 8 * k, 8);
        mq |= eq8(w, q) << (8 * k);
        md |= eq8(w, d) << (8 * k);
        mn |= eq8(w, '\n') << (8 * k);
        mr |= eq8(w, '\r') << (8 * k);
    }
    m->q = mq;
    m->d = md;
    m->n = mn;
    m->r = mr;
}

CSV_SIMD_VARIANT(eh_csv_index_swar)
#include "kernels/isa/end.h"
