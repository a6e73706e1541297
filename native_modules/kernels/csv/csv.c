/* CSV family: variant table, request checking, output layout (csv.h), the
 * ragged-row check and unescaping for CSV_FIELDS. */
#include "kernels/csv/csv.h"
#include "kernels/dispatch.h"
#include "kernels/isa/isa.h"

/* Generic first; eh_variant_select upgrades by CPU bits (dispatch.h). "scalar"
 * is the reference state machine, "swar" its portable bit-parallel twin.
 * Needs from isa.h; a variant this build does not compile is never runnable
 * and its slot holds the scalar function. */
static const eh_variant_desc variants[] = {
    {"scalar", 0},
    {"swar", 0},
    {"simd128", EH_ISA_SIMD128_NEEDS},
    {"avx2", EH_ISA_AVX2_NEEDS},
    {"avx512", EH_ISA_AVX512_NEEDS},
};
#if !EH_ISA_COMPILED(EH_ISA_SIMD128)
#define eh_csv_index_simd128 eh_csv_index_scalar
#endif
#if !EH_ISA_X86
#define eh_csv_index_avx2 eh_csv_index_scalar
#define eh_csv_index_avx512 eh_csv_index_scalar
#endif
static const eh_csv_index_fn fns[] = {eh_csv_index_scalar, eh_csv_index_swar, eh_csv_index_simd128,
                                      eh_csv_index_avx2, eh_csv_index_avx512};
#define NVAR ((int)(sizeof(variants) / sizeof(variants[0])))
EH_VARIANT_STATE(csv)

void eh_csv_init(uint64_t cpu, const char *force) { variant_init(cpu, force); }

/* Raw byte range of the field ending at entry e, starting after prev. */
static inline uint64_t raw_end(const uint8_t *in, uint64_t len, uint64_t start, uint64_t e)
{
    if ((e == len || in[e] == '\n') && e > start && in[e - 1] == '\r')
        return e - 1;
    return e;
}

static inline int ends_row(const uint8_t *in, uint64_t len, uint64_t e)
{
    return e == len || in[e] == '\n';
}

/* First non-blank row whose width differs from the first non-blank row's;
 * returns its first byte, or -1. */
static int64_t find_ragged(const uint8_t *in, uint64_t len, const eh_u32 *idx, uint64_t n)
{
    int64_t width = -1;
    uint64_t row_start = 0, fields = 0, start = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = idx[i];
        fields++;
        if (ends_row(in, len, e)) {
            int blank = fields == 1 && raw_end(in, len, start, e) == start;
            if (!blank) {
                if (width < 0)
                    width = (int64_t)fields;
                else if ((int64_t)fields != width)
                    return (int64_t)row_start;
            }
            fields = 0;
            row_start = e + 1;
        }
        start = e + 1;
    }
    return -1;
}

/* Copies n bytes, 16 at a time while both sides have 16 bytes left before
 * their ends (a step may copy past n: those bytes lie in the value area, to
 * be overwritten by the next field or left beyond out_len, inside out_cap). */
static inline void copy_field(uint8_t *d, const uint8_t *s, uint64_t n, const uint8_t *s_end,
                              const uint8_t *d_end)
{
    while (n > 0 && s + 16 <= s_end && d + 16 <= d_end) {
        __builtin_memcpy(d, s, 16);
        if (n <= 16)
            return;
        d += 16;
        s += 16;
        n -= 16;
    }
    while (n--)
        *d++ = *s++;
}

/* Unescapes the quoted raw field [s, e) (in[s] == q) into o; returns the
 * bytes written (<= e - s): quotes dropped, doubled quotes made single,
 * anything after the closing quote kept as it is (lenient mode). Runs
 * without quotes move 8 bytes at a time (SWAR search for q) while the field
 * and the value area (up to o_end) have 8 bytes left. */
static uint64_t unescape_quoted(const uint8_t *in, uint64_t s, uint64_t e, uint8_t q, uint8_t *o,
                                const uint8_t *o_end)
{
    const uint64_t ones = 0x0101010101010101ull, qq = ones * q;
    uint8_t *o0 = o;
    uint64_t j = s + 1;
    for (;;) {
        while (j + 8 <= e && o + 8 <= o_end) {
            uint64_t w;
            __builtin_memcpy(&w, in + j, 8);
            uint64_t x = w ^ qq;
            uint64_t z = (x - ones) & ~x & (ones << 7); /* lowest set bit: first q byte */
            __builtin_memcpy(o, &w, 8);
            if (z) {
                uint64_t k = (uint64_t)__builtin_ctzll(z) >> 3;
                o += k;
                j += k;
                break;
            }
            o += 8;
            j += 8;
        }
        while (j < e && in[j] != q)
            *o++ = in[j++];
        if (j >= e)
            return (uint64_t)(o - o0);
        if (j + 1 < e && in[j + 1] == q) {
            *o++ = q;
            j += 2;
            continue;
        }
        for (j++; j < e; j++) /* closing quote: the rest is data */
            *o++ = in[j];
        return (uint64_t)(o - o0);
    }
}

/* Rewrites each entry to its value's end in the value area (or-ed with the
 * ROW_END / QUOTED tags) and fills the value area. in and out never overlap. */
static void fields_pass(const uint8_t *in, uint64_t len, uint8_t q, eh_u32 *idx, uint64_t n,
                        uint8_t *values, const uint8_t *out_end, eh_offload_res *res)
{
    uint64_t start = 0, vlen = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = idx[i];
        uint32_t tag = 0;
        uint64_t re = e;
        if (e == len || in[e] == '\n') {
            tag = EH_CSV_ROW_END;
            if (re > start && in[re - 1] == '\r')
                re--;
        }
        if (start < re && in[start] == q) {
            tag |= EH_CSV_QUOTED;
            vlen += unescape_quoted(in, start, re, q, values + vlen, out_end);
        } else {
            copy_field(values + vlen, in + start, re - start, in + len, out_end);
            vlen += re - start;
        }
        idx[i] = (uint32_t)vlen | tag;
        start = e + 1;
    }
    res->out_len = 4 * n + vlen;
}

void eh_csv_run(const eh_offload_req *req, eh_offload_res *res)
{
    const int fields = req->kernel == EH_KERNEL_CSV_FIELDS;
    uint64_t d = req->arg[0] ? req->arg[0] : ',';
    uint64_t q = req->arg[1] ? req->arg[1] : '"';
    if (req->flags & ~(EH_CSV_F_STRICT | EH_CSV_F_RECT)) {
        res->status = EH_K_EINVAL;
        return;
    }
    if (d > 255 || q > 255 || d == q || d == '\n' || d == '\r' || q == '\n' || q == '\r') {
        res->status = EH_K_EINVAL;
        res->detail = EH_CSV_E_DIALECT;
        return;
    }
    if (req->in_len >= (fields ? (uint64_t)EH_CSV_OFFSET_MASK : EH_CSV_MAX_LEN)) {
        res->status = EH_K_EINVAL;
        res->detail = EH_CSV_E_TOO_BIG;
        return;
    }
    eh_csv_scan s;
    s.in = (const uint8_t *)(uintptr_t)req->in;
    s.len = req->in_len;
    s.delim = (uint8_t)d;
    s.quote = (uint8_t)q;
    s.strict = (req->flags & EH_CSV_F_STRICT) != 0;
    s.idx = (eh_u32 *)(uintptr_t)req->out;
    s.cap = req->out_cap / 4;
    s.nfields = s.nrows = 0;
    s.err = 0;
    s.err_off = 0;
    fns[cur()](&s);
    res->value = s.nfields | (s.nrows << 32);
    if (s.err) {
        res->status = EH_K_EPARSE;
        res->detail = (uint32_t)s.err;
        res->err_offset = s.err_off;
        return;
    }
    uint64_t need = 4 * s.nfields + (fields ? s.len : 0);
    if (s.nfields > s.cap || need > req->out_cap) {
        res->status = EH_K_ENOSPC;
        res->out_len = need;
        return;
    }
    if (req->flags & EH_CSV_F_RECT) {
        int64_t at = find_ragged(s.in, s.len, s.idx, s.nfields);
        if (at >= 0) {
            res->status = EH_K_EPARSE;
            res->detail = EH_CSV_E_RAGGED;
            res->err_offset = (uint64_t)at;
            return;
        }
    }
    if (fields)
        fields_pass(s.in, s.len, s.quote, s.idx, s.nfields,
                    (uint8_t *)(uintptr_t)req->out + 4 * s.nfields,
                    (const uint8_t *)(uintptr_t)req->out + req->out_cap, res);
    else
        res->out_len = 4 * s.nfields;
}
