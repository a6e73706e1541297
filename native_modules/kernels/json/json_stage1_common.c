/* Stage-1 helpers shared by every variant: escape checking, the exact
 * position of a UTF-8 error, and picking a block's first error. They run only
 * on blocks that hold escapes or errors, so they are plain scalar code. */
#include "kernels/json/json.h"

static inline int hexval(uint8_t c)
{
    if ((uint8_t)(c - '0') < 10)
        return c - '0';
    c |= 0x20;
    if ((uint8_t)(c - 'a') < 6)
        return c - 'a' + 10;
    return -1;
}

/* Code unit of \uXXXX whose 'u' is at p, or -1 (also when out of bounds). */
static int32_t hex4(const uint8_t *in, uint64_t len, uint64_t p)
{
    if (p + 4 >= len)
        return -1;
    int32_t v = 0;
    for (int k = 1; k <= 4; k++) {
        int h = hexval(in[p + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

uint64_t eh_json_check_escapes(json_s1 *s, uint64_t base, uint64_t escaped, int *kind)
{
    const uint8_t *in = s->in;
    for (; escaped; escaped &= escaped - 1) {
        uint64_t p = base + (uint64_t)__builtin_ctzll(escaped);
        switch (in[p]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            continue;
        case 'u': {
            int32_t cp = hex4(in, s->len, p);
            if (cp < 0) {
                *kind = EH_JSON_E_ESCAPE;
                return p - 1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int32_t lo = p + 6 < s->len && in[p + 5] == '\\' && in[p + 6] == 'u'
                                 ? hex4(in, s->len, p + 6)
                                 : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    *kind = EH_JSON_E_SURROGATE;
                    return p - 1;
                }
                s->low_expected = p + 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF && p != s->low_expected) {
                *kind = EH_JSON_E_SURROGATE;
                return p - 1;
            }
            continue;
        }
        default:
            *kind = EH_JSON_E_ESCAPE;
            return p - 1;
        }
    }
    return UINT64_MAX;
}

static inline int cont(uint8_t b) { return (b & 0xC0) == 0x80; }

uint64_t eh_json_utf8_first_error(const uint8_t *in, uint64_t len, uint64_t from, uint64_t to)
{
    uint64_t p = from;
    if (to > len)
        to = len;
    while (p < to) {
        uint8_t c = in[p];
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c < 0xC2 || c > 0xF4)
            return p;
        uint8_t lo = 0x80, hi = 0xBF;
        int n = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        if (p + (uint64_t)n >= len || in[p + 1] < lo || in[p + 1] > hi)
            return p;
        for (int k = 2; k <= n; k++)
            if (!cont(in[p + (uint64_t)k]))
                return p;
        p += (uint64_t)n + 1;
    }
    return UINT64_MAX;
}

/* A sequence holding byte base starts at most 3 bytes earlier. */
static uint64_t utf8_sync(const uint8_t *in, uint64_t base)
{
    for (uint64_t k = 1; k <= 3 && k <= base; k++) {
        uint8_t b = in[base - k];
        if (b >= 0xC0)
            return base - k;
        if (b < 0x80)
            break;
    }
    return base;
}

void eh_json_block_error(json_s1 *s, uint64_t base, uint64_t ctrl_off, uint64_t esc_off,
                         int esc_kind, int utf8_flag)
{
    uint64_t best = ctrl_off;
    int kind = EH_JSON_E_CONTROL;
    if (esc_off < best) {
        best = esc_off;
        kind = esc_kind;
    }
    uint64_t u = eh_json_utf8_first_error(s->in, s->len, utf8_sync(s->in, base), base + 64);
    if (u < best) {
        best = u;
        kind = EH_JSON_E_UTF8;
    }
    if (best == UINT64_MAX && utf8_flag) { /* never accept what the block check refused */
        best = base;
        kind = EH_JSON_E_UTF8;
    }
    if (best == UINT64_MAX)
        return;
    s->err = kind;
    s->err_off = best;
}
