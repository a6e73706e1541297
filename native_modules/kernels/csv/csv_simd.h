/* Bit-parallel CSV indexing over 64-byte blocks, shared by the avx512, avx2,
 * simd128 and swar variants. Include inside the variant's kernels/isa/begin.h
 * region (which supplies eh_prefix_xor, eh_tz, eh_blsr, eh_popcnt and
 * eh_flatten), then define
 *     static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q,
 *                                     csv_masks *m);
 * which sets bit i of each mask when p[i] is the quote/delimiter/'\n'/'\r',
 * and the variant with CSV_SIMD_VARIANT(name).
 *
 * Model: every quote toggles "inside quotes" (a prefix xor: carry-less
 * multiply by all ones, or six shifts). Doubled quotes toggle twice, so delimiters and line
 * ends outside the model's quotes are exactly the separators -- as long as
 * every opening quote sits at a field start or right after a closing quote.
 * A block where that fails (or, when strict, where a closing quote is followed
 * by anything but a separator, quote, CRLF or end) is handed with its exact
 * state to the scalar state machine, which then defines the result. */
#ifndef EH_KERNELS_CSV_SIMD_H
#define EH_KERNELS_CSV_SIMD_H
#include "kernels/csv/csv.h"

typedef struct {
    uint64_t q, d, n, r;
} csv_masks;

static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q, csv_masks *m);

static inline void csv_flatten_careful(eh_csv_scan *s, uint64_t n, uint32_t base, uint64_t m)
{
    for (; m; m = eh_blsr(m), n++)
        if (n < s->cap)
            s->idx[n] = base + (uint32_t)eh_tz(m);
}

/* Scalar state at byte pos given the model's carries (nothing anomalous
 * before pos). */
static inline int csv_state_at(const eh_csv_scan *s, uint64_t pos, uint64_t inside)
{
    if (inside)
        return EH_CSV_ST_QUOTED;
    if (pos == 0)
        return EH_CSV_ST_FIELD;
    uint8_t c = s->in[pos - 1];
    if (c == s->delim || c == '\n')
        return EH_CSV_ST_FIELD;
    if (c == s->quote)
        return EH_CSV_ST_QUOTE_IN_QUOTED;
    return EH_CSV_ST_UNQUOTED;
}

static inline void csv_simd_index(eh_csv_scan *s)
{
    const uint8_t *in = s->in;
    const uint64_t len = s->len;
    uint64_t inside_carry = 0; /* 0 or ~0: the byte before the block left us inside quotes */
    uint64_t prev_sep = 1;     /* bit 0: the byte before was a separator (or none)          */
    uint64_t prev_close = 0;   /* bit 0: the byte before was a closing quote                 */
    uint64_t last_open = 0;
    uint64_t n = 0, rows = 0;
    uint8_t tail[64];
    for (uint64_t base = 0; base < len; base += 64) {
        const uint8_t *p = in + base;
        uint64_t valid = ~0ull;
        if (len - base < 64) {
            __builtin_memset(tail, 0, 64); /* 0 is never a delimiter, quote or line end */
            __builtin_memcpy(tail, p, len - base);
            p = tail;
            valid = (1ull << (len - base)) - 1;
        }
        csv_masks m;
        csv_classify(p, s->delim, s->quote, &m);
        uint64_t inside = eh_prefix_xor(m.q) ^ inside_carry;
        uint64_t seps = (m.d | m.n) & ~inside & valid;
        uint64_t closing = m.q & ~inside;
        if (m.q | prev_close) {
            uint64_t opening = m.q & inside;
            uint64_t at_field_start = opening & ((seps << 1) | prev_sep);
            uint64_t bad = opening & ~(at_field_start | (closing << 1) | prev_close);
            if (s->strict) {
                uint64_t next_nl = base + 64 < len ? in[base + 64] == '\n' : 1;
                uint64_t crlf = m.r & ((m.n >> 1) | (next_nl << 63) | (~valid >> 1));
                uint64_t follow = (closing << 1) | prev_close;
                bad |= follow & ~(seps | m.q | crlf | ~valid);
            }
            if (bad) {
                s->nfields = n;
                s->nrows = rows;
                eh_csv_scalar_resume(s, base, csv_state_at(s, base, inside_carry), last_open);
                return;
            }
            if (at_field_start) /* doubled quotes reopen, they do not start a field */
                last_open = base + 63 - (uint64_t)__builtin_clzll(at_field_start);
        }
        prev_sep = seps >> 63;
        prev_close = closing >> 63;
        inside_carry = (uint64_t)((int64_t)inside >> 63);
        rows += (uint64_t)eh_popcnt(m.n & ~inside & valid);
        if (seps) {
            int cnt = eh_popcnt(seps);
            if (n + 64 <= s->cap)
                eh_flatten(s->idx + n, (uint32_t)base, seps, cnt);
            else
                csv_flatten_careful(s, n, (uint32_t)base, seps);
            n += (uint64_t)cnt;
        }
    }
    s->nfields = n;
    s->nrows = rows;
    if (inside_carry) {
        s->err = EH_CSV_E_UNTERMINATED;
        s->err_off = last_open;
        return;
    }
    if (len > 0 && in[len - 1] != '\n') {
        if (s->nfields < s->cap)
            s->idx[s->nfields] = (uint32_t)len;
        s->nfields++;
        s->nrows++;
    }
}

/* The variant's entry point. */
#define CSV_SIMD_VARIANT(name) \
    void name(eh_csv_scan *s) { csv_simd_index(s); }

#endif
