/* JSON stage 1 and minify over 64-byte blocks, shared by every variant.
 * Include inside the variant's ISA region after defining, for its
 * instruction set (then define json_classify and JSON_VARIANT(name)):
 *   json_classify(p, m)    bit masks of one block: backslash, quote,
 *                          whitespace, operators ,:[]{} (bytes 0x0c/0x1a also
 *                          match; they are control characters and rejected
 *                          anyway), control bytes < 0x20
 *   u8state + u8_load/u8_store/u8_block/u8_eof   UTF-8 check with carries
 *   (the bit helpers eh_prefix_xor, eh_tz, eh_blsr, eh_popcnt, eh_flatten
 *   come from the variant's kernels/isa/begin.h region)
 *   json_compress8(dst, word, keep8)  stores the kept bytes of an 8-byte word
 *                          (may store all 8), returns how many were kept
 *                          (or a whole json_compress_block, JSON_HAVE_COMPRESS_BLOCK)
 *
 * Per block, in order (every mask is relative to the block's first byte):
 *   escaped  = bytes after an odd-length backslash run (runs may span blocks);
 *   quote    = unescaped '"'; instr = inside a string, the opening quote
 *              included and the closing one excluded (prefix xor + carry);
 *   errors   = control bytes in strings or outside-whitespace, bad escapes,
 *              UTF-8 -- the block's first one is made exact by scalar code;
 *   tokens   = operators outside strings, opening quotes, and the first byte
 *              of every scalar run (a run follows whitespace, an operator or
 *              a quote). */
#ifndef EH_KERNELS_JSON_STAGE1_IMPL_H
#define EH_KERNELS_JSON_STAGE1_IMPL_H
#include "kernels/json/json.h"

#define JSON_EVEN 0x5555555555555555ull
#define JSON_ODD 0xaaaaaaaaaaaaaaaaull

typedef struct {
    uint64_t bs, quote, ws, ops, ctrl;
} json_masks;

/* The whitespace and operator classes by one 16-entry lookup of the low
 * nibble each (byte | 0x20 for operators folds [] onto {}) -- the SIMD
 * variants' table shuffles. */
__attribute__((unused)) static const uint8_t json_ws_lut[16] = {' ', 0, 0, 0, 0, 0, 0, 0, 0,
                                                               '\t', '\n', 0, 0, '\r', 0, 0};
__attribute__((unused)) static const uint8_t json_op_lut[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                               ':', '{', ',', '}', 0, 0};

static inline void json_classify(const uint8_t *p, json_masks *m);

/* escaped bytes of a block; *carry: bit 0 = the block's first byte is
 * escaped on entry, and on return whether the next block's first byte is. */
static inline uint64_t json_escaped(uint64_t bs, uint64_t *carry)
{
    uint64_t in = *carry;
    if (!(bs | in))
        return 0;
    uint64_t b = bs & ~in; /* an escaped backslash starts no run */
    uint64_t starts = b & ~(b << 1);
    uint64_t even_ends = (b + (starts & JSON_EVEN)) & ~b;
    uint64_t odd_sum = b + (starts & JSON_ODD);
    uint64_t odd_ends = odd_sum & ~b;
    *carry = odd_sum < b; /* an odd-started run reaching bit 63 has odd length */
    /* a run of length L starting at s escapes s+L iff L is odd, i.e. iff
     * s+L and s differ in parity */
    return in | (even_ends & JSON_ODD) | (odd_ends & JSON_EVEN);
}

#ifndef JSON_HAVE_COMPRESS_BLOCK
/* Stores the bytes of p[0..64) selected by keep, in order, at dst (may store
 * up to 64 bytes); returns how many were kept. */
static inline uint64_t json_compress_block(uint8_t *dst, const uint8_t *p, uint64_t keep)
{
    uint64_t o = 0;
    for (int k = 0; k < 64; k += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p + k, 8);
        o += json_compress8(dst + o, w, (uint32_t)(keep >> k) & 0xff);
    }
    return o;
}
#endif

/* Classifies the block at p and finds its strings: *escaped (bytes after an
 * odd backslash run), *quote (unescaped quotes); returns instr (inside a
 * string, opening quote in, closing quote out), carrying *esc_carry and
 * *in_string to the next block. */
static inline uint64_t json_strings(const uint8_t *p, json_masks *m, uint64_t *esc_carry,
                                    uint64_t *in_string, uint64_t *escaped, uint64_t *quote)
{
    json_classify(p, m);
    *escaped = json_escaped(m->bs, esc_carry);
    *quote = m->quote & ~*escaped;
    uint64_t instr = eh_prefix_xor(*quote) ^ *in_string;
    *in_string = (uint64_t)((int64_t)instr >> 63);
    return instr;
}

static inline const uint8_t *json_block(const uint8_t *in, uint64_t len, uint64_t base,
                                        uint8_t *tail, uint64_t *valid)
{
    if (len - base >= 64) {
        *valid = ~0ull;
        return in + base;
    }
    __builtin_memset(tail, ' ', 64); /* whitespace: no token, no error */
    __builtin_memcpy(tail, in + base, len - base);
    *valid = (1ull << (len - base)) - 1;
    return tail;
}

static inline uint64_t json_stage1_impl(json_s1 *s, uint64_t end, uint32_t *idx)
{
    const uint8_t *in = s->in;
    const uint64_t len = s->len;
    uint64_t in_string = s->in_string, esc_carry = s->escaped;
    uint64_t prev_scalar = s->prev_scalar, last_open = s->last_open;
    u8state u;
    u8_load(&u, s);
    _Alignas(64) uint8_t tail[64];
    uint64_t n = 0, base = s->pos;
    for (; base < end; base += 64) {
        uint64_t valid;
        const uint8_t *p = json_block(in, len, base, tail, &valid);
        json_masks m;
        uint64_t escaped, quote;
        uint64_t instr = json_strings(p, &m, &esc_carry, &in_string, &escaped, &quote);
        uint64_t open = quote & instr;
        last_open = open ? base + 63 - (uint64_t)__builtin_clzll(open) : last_open;

        int uflag = u8_block(&u, p);
        if (base + 64 >= len)
            uflag |= u8_eof(&u);
        uint64_t ctrl = m.ctrl & (instr | ~m.ws) & valid;
        uint64_t esc_in = escaped & instr & valid;
        uint64_t esc_off = UINT64_MAX;
        int esc_kind = 0;
        if (esc_in)
            esc_off = eh_json_check_escapes(s, base, esc_in, &esc_kind);

        uint64_t sc = ~(m.ws | m.ops | quote | instr);
        uint64_t tokens = ((m.ops & ~instr) | open | (sc & ~((sc << 1) | prev_scalar))) & valid;
        prev_scalar = sc >> 63;
        int cnt = eh_popcnt(tokens);
        eh_flatten(idx + n, (uint32_t)base, tokens, cnt); /* no branch: 0 tokens store junk */
        n += (uint64_t)cnt;

        if (ctrl | (uint64_t)uflag | (esc_off != UINT64_MAX)) {
            eh_json_block_error(s, base, ctrl ? base + eh_tz(ctrl) : UINT64_MAX, esc_off,
                                esc_kind, uflag);
            while (n && idx[n - 1] >= s->err_off)
                n--;
            base += 64;
            break;
        }
    }
    s->pos = base;
    s->in_string = in_string;
    s->escaped = esc_carry;
    s->prev_scalar = prev_scalar;
    s->last_open = last_open;
    s->ntokens += n;
    u8_store(&u, s);
    if (!s->err && base >= len && in_string) {
        s->err = EH_JSON_E_UNTERMINATED;
        s->err_off = last_open;
    }
    return n;
}

/* Minify of a validated document: drops whitespace outside strings. */
static inline uint64_t json_minify_impl(const uint8_t *in, uint64_t len, uint8_t *out,
                                        uint64_t cap)
{
    uint64_t in_string = 0, esc_carry = 0, o = 0;
    _Alignas(64) uint8_t tail[64];
    for (uint64_t base = 0; base < len; base += 64) {
        uint64_t valid;
        const uint8_t *p = json_block(in, len, base, tail, &valid);
        json_masks m;
        uint64_t escaped, quote;
        uint64_t instr = json_strings(p, &m, &esc_carry, &in_string, &escaped, &quote);
        uint64_t keep = ~(m.ws & ~instr) & valid;
        if (o + 64 <= cap) {
            if (keep == ~0ull) {
                __builtin_memcpy(out + o, p, 64);
                o += 64;
                continue;
            }
            o += json_compress_block(out + o, p, keep);
        } else {
            for (; keep; keep = eh_blsr(keep), o++)
                if (o < cap)
                    out[o] = p[eh_tz(keep)];
        }
    }
    return o;
}

/* The variant's two entry points. */
#define JSON_VARIANT(isa)                                                                    \
    uint64_t eh_json_stage1_##isa(json_s1 *s, uint64_t end, uint32_t *idx)                   \
    {                                                                                         \
        return json_stage1_impl(s, end, idx);                                                 \
    }                                                                                         \
    uint64_t eh_json_minify_##isa(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap) \
    {                                                                                         \
        return json_minify_impl(in, len, out, cap);                                           \
    }

#endif
