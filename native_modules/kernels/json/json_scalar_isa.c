/* JSON stage 1 and minify, portable variant ("scalar"): the same block
 * algorithm as the SIMD variants with masks built 8 bytes at a time in
 * 64-bit words (SWAR), the prefix xor by shifts, and the UTF-8 lookup formula
 * evaluated per byte of non-ASCII blocks. It is the variant for plain wasm32
 * and for CPUs without AVX2. */
#define EH_ISA EH_ISA_PORTABLE
#include "kernels/isa/begin.h"
#include "kernels/json/json.h"
#if EH_ISA_ON
#include "kernels/json/json_utf8_tables.h"

static inline uint32_t json_compress8(uint8_t *dst, uint64_t w, uint32_t keep8)
{
    uint32_t n = 0;
    for (int i = 0; i < 8; i++)
        if (keep8 >> i & 1)
            dst[n++] = (uint8_t)(w >> (8 * i));
    return n;
}

typedef struct {
    uint8_t p1, p2, p3; /* the three bytes before the block */
    int incomplete;
} u8state;

static inline void u8_load(u8state *u, const json_s1 *s)
{
    u->p3 = s->prev_block[61];
    u->p2 = s->prev_block[62];
    u->p1 = s->prev_block[63];
    u->incomplete = s->prev_incomplete != 0;
}

static inline void u8_store(const u8state *u, json_s1 *s)
{
    s->prev_block[61] = u->p3;
    s->prev_block[62] = u->p2;
    s->prev_block[63] = u->p1;
    s->prev_incomplete = (uint64_t)u->incomplete;
}

static inline int u8_block(u8state *u, const uint8_t *p)
{
    uint64_t hi = 0;
    for (int k = 0; k < 64; k += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p + k, 8);
        hi |= w;
    }
    int err = 0;
    if (!(hi & 0x8080808080808080ull)) {
        err = u->incomplete;
    } else {
        uint8_t p1 = u->p1, p2 = u->p2, p3 = u->p3;
        for (int i = 0; i < 64; i++) {
            uint8_t c = p[i];
            uint8_t e = eh_u8_hi1[p1 >> 4] & eh_u8_lo1[p1 & 15] & eh_u8_hi2[c >> 4];
            if (p2 >= 0xE0 || p3 >= 0xF0)
                e ^= 0x80;
            err |= e != 0;
            p3 = p2;
            p2 = p1;
            p1 = c;
        }
    }
    u->p3 = p[61];
    u->p2 = p[62];
    u->p1 = p[63];
    u->incomplete = p[63] >= 0xC0 || p[62] >= 0xE0 || p[61] >= 0xF0;
    return err;
}

static inline int u8_eof(const u8state *u) { return u->incomplete; }

#include "kernels/json/json_stage1_impl.h"

/* SWAR classification, 8 bytes per word. eq() is exact per byte (no borrow
 * crosses bytes): bit 7 of each byte is set where the byte equals c. */
#define ONES 0x0101010101010101ull
#define LOW7 0x7f7f7f7f7f7f7f7full
#define HIGH 0x8080808080808080ull

static inline uint64_t eq(uint64_t w, uint8_t c)
{
    uint64_t x = w ^ (ONES * c);
    return ~(((x & LOW7) + LOW7) | x) & HIGH;
}

/* Bit 7 of byte i -> bit i. */
static inline uint64_t gather8(uint64_t hb) { return ((hb >> 7) * 0x0102040810204080ull) >> 56; }

static inline void json_classify(const uint8_t *p, json_masks *m)
{
    uint64_t bs = 0, q = 0, ws = 0, ops = 0, ctrl = 0;
    for (int k = 0; k < 8; k++) {
        uint64_t w;
        __builtin_memcpy(&w, p + 8 * k, 8);
        uint64_t w20 = w | (ONES * 0x20);
        const int sh = 8 * k;
        bs |= gather8(eq(w, '\\')) << sh;
        q |= gather8(eq(w, '"')) << sh;
        ws |= gather8(eq(w, ' ') | eq(w, '\t') | eq(w, '\n') | eq(w, '\r')) << sh;
        ops |= gather8(eq(w20, ',') | eq(w20, ':') | eq(w20, '{') | eq(w20, '}')) << sh;
        ctrl |= gather8(~(((w & LOW7) + (ONES * 0x60)) | w) & HIGH) << sh; /* byte < 0x20 */
    }
    m->bs = bs;
    m->quote = q;
    m->ws = ws;
    m->ops = ops;
    m->ctrl = ctrl;
}

JSON_VARIANT(scalar)
#endif
#include "kernels/isa/end.h"
