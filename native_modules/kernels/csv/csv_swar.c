/* CSV indexing, portable bit-parallel variant ("swar"): the shared block
 * algorithm with masks built 8 bytes at a time in 64-bit words and the prefix
 * xor by shifts. Plain C: the best variant where no SIMD one runs (plain
 * wasm32, CPUs without AVX2); "scalar" stays the reference state machine. */
#include "kernels/csv/csv.h"

#define ONES 0x0101010101010101ull
#define LOW7 0x7f7f7f7f7f7f7f7full
#define HIGH 0x8080808080808080ull

static inline uint64_t csv_prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}
static inline uint64_t csv_tz(uint64_t x) { return x ? (uint64_t)__builtin_ctzll(x) : 64; }
static inline uint64_t csv_blsr(uint64_t x) { return x & (x - 1); }
static inline int csv_popcnt(uint64_t x) /* no libgcc helper in the guest */
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * ONES) >> 56);
}

#include "kernels/csv/csv_simd.h"

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

void eh_csv_index_swar(eh_csv_scan *s) { csv_simd_index(s); }
