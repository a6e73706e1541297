/* JSON stage 1 and minify, portable variant ("scalar"): the same block
 * algorithm as the SIMD variants with masks built one byte at a time, the
 * prefix xor by shifts, and the UTF-8 lookup formula evaluated per byte. It is
 * the variant for wasm32 and for CPUs without AVX2. */
#include "kernels/json/json.h"
#include "kernels/json/json_utf8_tables.h"

enum { C_BS = 1, C_QUOTE = 2, C_WS = 4, C_OPS = 8, C_CTRL = 16 };
#define CC C_CTRL
static const uint8_t cls[256] = {
    CC, CC, CC, CC, CC, CC, CC, CC, CC, CC | C_WS, CC | C_WS, CC, CC | C_OPS, CC | C_WS, CC, CC,
    CC, CC, CC, CC, CC, CC, CC, CC, CC, CC, CC | C_OPS, CC, CC, CC, CC, CC, /* 0x0c, 0x1a: as the
    SIMD variants' |0x20 operator trick -- both are rejected as control bytes anyway */
    [' '] = C_WS, ['"'] = C_QUOTE, ['\\'] = C_BS,
    [','] = C_OPS, [':'] = C_OPS, ['['] = C_OPS, [']'] = C_OPS, ['{'] = C_OPS, ['}'] = C_OPS,
};

static inline uint64_t json_prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}
static inline uint64_t json_tz(uint64_t x) { return x ? (uint64_t)__builtin_ctzll(x) : 64; }
static inline uint64_t json_blsr(uint64_t x) { return x & (x - 1); }
static inline int json_popcnt(uint64_t x) /* no libgcc helper in the guest */
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

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

static inline void json_classify(const uint8_t *p, json_masks *m)
{
    uint64_t bs = 0, q = 0, ws = 0, ops = 0, ctrl = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t c = cls[p[i]], bit = 1ull << i;
        bs |= (c & C_BS) ? bit : 0;
        q |= (c & C_QUOTE) ? bit : 0;
        ws |= (c & C_WS) ? bit : 0;
        ops |= (c & C_OPS) ? bit : 0;
        ctrl |= (c & C_CTRL) ? bit : 0;
    }
    m->bs = bs;
    m->quote = q;
    m->ws = ws;
    m->ops = ops;
    m->ctrl = ctrl;
}

uint64_t eh_json_stage1_scalar(json_s1 *s, uint64_t end, uint32_t *idx)
{
    return json_stage1_impl(s, end, idx);
}

uint64_t eh_json_minify_scalar(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap)
{
    return json_minify_impl(in, len, out, cap);
}
