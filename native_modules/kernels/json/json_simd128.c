/* JSON stage 1 and minify, WebAssembly SIMD128 ("simd128"): the shared block
 * algorithm with 16-byte compares and swizzle lookups (whitespace, operators,
 * UTF-8 nibble tables) and the prefix xor by shifts. Built only for wasm32
 * with -msimd128; elsewhere the variant is never selectable (see json.c). */
#define EH_ISA EH_ISA_SIMD128
#include "kernels/isa/begin.h"
#include "kernels/json/json.h"
#if EH_ISA_ON
#include "kernels/json/json_utf8_tables.h"

static inline uint32_t json_compress8(uint8_t *dst, uint64_t w, uint32_t keep8)
{
    uint32_t n = 0;
    for (int i = 0; i < 8; i++) {
        dst[n] = (uint8_t)(w >> (8 * i));
        n += keep8 >> i & 1;
    }
    return n;
}

static inline uint64_t bits(const v128_t m[4])
{
    return (uint64_t)wasm_i8x16_bitmask(m[0]) | (uint64_t)wasm_i8x16_bitmask(m[1]) << 16 |
           (uint64_t)wasm_i8x16_bitmask(m[2]) << 32 | (uint64_t)wasm_i8x16_bitmask(m[3]) << 48;
}

static inline v128_t lut(const uint8_t *t, v128_t idx)
{
    return wasm_i8x16_swizzle(wasm_v128_load(t), idx);
}

typedef struct {
    v128_t prev; /* the previous 16 bytes */
    int incomplete;
} u8state;

static inline void u8_load(u8state *u, const json_s1 *s)
{
    u->prev = wasm_v128_load(s->prev_block + 48);
    u->incomplete = s->prev_incomplete != 0;
}

static inline void u8_store(const u8state *u, json_s1 *s)
{
    wasm_v128_store(s->prev_block + 48, u->prev);
    s->prev_incomplete = (uint64_t)u->incomplete;
}

static inline v128_t u8_part(v128_t v, v128_t prev)
{
    const v128_t nib = wasm_i8x16_splat(0x0f);
    v128_t p1 = wasm_i8x16_shuffle(prev, v, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                   29, 30);
    v128_t p2 = wasm_i8x16_shuffle(prev, v, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                                   28, 29);
    v128_t p3 = wasm_i8x16_shuffle(prev, v, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
                                   27, 28);
    v128_t e = wasm_v128_and(wasm_v128_and(lut(eh_u8_hi1, wasm_u8x16_shr(p1, 4)),
                                           lut(eh_u8_lo1, wasm_v128_and(p1, nib))),
                             lut(eh_u8_hi2, wasm_u8x16_shr(v, 4)));
    v128_t third = wasm_u8x16_sub_sat(p2, wasm_i8x16_splat((int8_t)(0xE0 - 0x80)));
    v128_t fourth = wasm_u8x16_sub_sat(p3, wasm_i8x16_splat((int8_t)(0xF0 - 0x80)));
    v128_t must = wasm_v128_and(wasm_v128_or(third, fourth), wasm_i8x16_splat((int8_t)0x80));
    return wasm_v128_xor(e, must);
}

static inline int u8_block(u8state *u, const uint8_t *p)
{
    v128_t v[4];
    for (int i = 0; i < 4; i++)
        v[i] = wasm_v128_load(p + 16 * i);
    v128_t any = wasm_v128_or(wasm_v128_or(v[0], v[1]), wasm_v128_or(v[2], v[3]));
    int err;
    if (!wasm_i8x16_bitmask(any)) {
        err = u->incomplete;
        u->incomplete = 0;
    } else {
        v128_t e = wasm_v128_or(wasm_v128_or(u8_part(v[0], u->prev), u8_part(v[1], v[0])),
                                wasm_v128_or(u8_part(v[2], v[1]), u8_part(v[3], v[2])));
        err = wasm_v128_any_true(e);
        u->incomplete = (p[63] >= 0xC0) | (p[62] >= 0xE0) | (p[61] >= 0xF0);
    }
    u->prev = v[3];
    return err;
}

static inline int u8_eof(const u8state *u) { return u->incomplete; }

#include "kernels/json/json_stage1_impl.h"

static inline void json_classify(const uint8_t *p, json_masks *m)
{
    const v128_t nib = wasm_i8x16_splat(0x0f), k20 = wasm_i8x16_splat(0x20);
    const v128_t bs = wasm_i8x16_splat('\\'), qt = wasm_i8x16_splat('"');
    v128_t b[4], q[4], w[4], o[4], c[4];
    for (int i = 0; i < 4; i++) {
        v128_t v = wasm_v128_load(p + 16 * i);
        v128_t v20 = wasm_v128_or(v, k20);
        b[i] = wasm_i8x16_eq(v, bs);
        q[i] = wasm_i8x16_eq(v, qt);
        w[i] = wasm_i8x16_eq(lut(json_ws_lut, wasm_v128_and(v, nib)), v);
        o[i] = wasm_i8x16_eq(lut(json_op_lut, wasm_v128_and(v20, nib)), v20);
        c[i] = wasm_u8x16_lt(v, k20);
    }
    m->bs = bits(b);
    m->quote = bits(q);
    m->ws = bits(w);
    m->ops = bits(o);
    m->ctrl = bits(c);
}

JSON_VARIANT(simd128)
#endif
#include "kernels/isa/end.h"
