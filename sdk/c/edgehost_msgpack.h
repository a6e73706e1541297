/*
 * edgehost_msgpack.h -- a tiny msgpack writer and reader for tenants (C SDK).
 * No allocation, no libc: the writer fills a caller buffer, the reader walks
 * one. Covers the shapes of the ABI: nil, bool, int (int64/uint64), float64,
 * str, bin, array and map headers. Included by edgehost.h.
 *
 * Writer: every eh_mp_put_* returns 0 or -1 once the buffer is full (and
 * then keeps failing), so a sequence can be checked once at the end via w.err.
 * Reader: every eh_mp_get_* returns 0, or -1 on a type mismatch or truncated
 * input (and then keeps failing via r.err).
 */
#ifndef EDGEHOST_MSGPACK_H
#define EDGEHOST_MSGPACK_H
#include <stdint.h>

typedef struct eh_mp_writer { uint8_t *buf; uint32_t cap, len; int err; } eh_mp_writer;
typedef struct eh_mp_reader { const uint8_t *buf; uint32_t len, pos; int err; } eh_mp_reader;

static inline eh_mp_writer eh_mp_writer_init(void *buf, uint32_t cap)
{
    eh_mp_writer w = {(uint8_t *)buf, cap, 0, 0};
    return w;
}
static inline eh_mp_reader eh_mp_reader_init(const void *buf, uint32_t len)
{
    eh_mp_reader r = {(const uint8_t *)buf, len, 0, 0};
    return r;
}

static inline int eh_mp__raw(eh_mp_writer *w, const void *p, uint32_t n)
{
    if (w->err || n > w->cap - w->len)
        return w->err = -1;
    const uint8_t *s = (const uint8_t *)p;
    for (uint32_t i = 0; i < n; i++)
        w->buf[w->len + i] = s[i];
    w->len += n;
    return 0;
}
static inline int eh_mp__tag_be(eh_mp_writer *w, uint8_t tag, uint64_t v, int bytes)
{
    uint8_t b[9];
    b[0] = tag;
    for (int i = 0; i < bytes; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return eh_mp__raw(w, b, (uint32_t)(1 + bytes));
}

static inline int eh_mp_put_nil(eh_mp_writer *w) { return eh_mp__tag_be(w, 0xc0, 0, 0); }
static inline int eh_mp_put_bool(eh_mp_writer *w, int v) { return eh_mp__tag_be(w, v ? 0xc3 : 0xc2, 0, 0); }
static inline int eh_mp_put_uint(eh_mp_writer *w, uint64_t v)
{
    if (v < 128) return eh_mp__tag_be(w, (uint8_t)v, 0, 0);
    if (v <= 0xff) return eh_mp__tag_be(w, 0xcc, v, 1);
    if (v <= 0xffff) return eh_mp__tag_be(w, 0xcd, v, 2);
    if (v <= 0xffffffffu) return eh_mp__tag_be(w, 0xce, v, 4);
    return eh_mp__tag_be(w, 0xcf, v, 8);
}
static inline int eh_mp_put_int(eh_mp_writer *w, int64_t v)
{
    if (v >= 0) return eh_mp_put_uint(w, (uint64_t)v);
    if (v >= -32) return eh_mp__tag_be(w, (uint8_t)(0xe0 | (v + 32)), 0, 0);
    if (v >= -128) return eh_mp__tag_be(w, 0xd0, (uint8_t)v, 1);
    if (v >= -32768) return eh_mp__tag_be(w, 0xd1, (uint16_t)v, 2);
    if (v >= -2147483647 - 1) return eh_mp__tag_be(w, 0xd2, (uint32_t)v, 4);
    return eh_mp__tag_be(w, 0xd3, (uint64_t)v, 8);
}
static inline int eh_mp_put_f64(eh_mp_writer *w, double v)
{
    union { double d; uint64_t u; } c;
    c.d = v;
    return eh_mp__tag_be(w, 0xcb, c.u, 8);
}
static inline int eh_mp__len_hdr(eh_mp_writer *w, uint32_t n, uint8_t fix, uint32_t fixmax,
                                 uint8_t t8, uint8_t t16, uint8_t t32)
{
    if (n <= fixmax && fix) return eh_mp__tag_be(w, (uint8_t)(fix | n), 0, 0);
    if (n <= 0xff && t8) return eh_mp__tag_be(w, t8, n, 1);
    if (n <= 0xffff) return eh_mp__tag_be(w, t16, n, 2);
    return eh_mp__tag_be(w, t32, n, 4);
}
static inline int eh_mp_put_str(eh_mp_writer *w, const char *s, uint32_t n)
{
    eh_mp__len_hdr(w, n, 0xa0, 31, 0xd9, 0xda, 0xdb);
    return eh_mp__raw(w, s, n);
}
static inline int eh_mp_put_bin(eh_mp_writer *w, const void *p, uint32_t n)
{
    eh_mp__len_hdr(w, n, 0, 0, 0xc4, 0xc5, 0xc6);
    return eh_mp__raw(w, p, n);
}
static inline int eh_mp_put_array(eh_mp_writer *w, uint32_t n) { return eh_mp__len_hdr(w, n, 0x90, 15, 0, 0xdc, 0xdd); }
static inline int eh_mp_put_map(eh_mp_writer *w, uint32_t n) { return eh_mp__len_hdr(w, n, 0x80, 15, 0, 0xde, 0xdf); }

/* ---- reader ---- */
static inline int eh_mp__need(eh_mp_reader *r, uint32_t n)
{
    if (r->err || n > r->len - r->pos)
        return r->err = -1;
    return 0;
}
static inline uint64_t eh_mp__be(eh_mp_reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | r->buf[r->pos + i];
    r->pos += (uint32_t)bytes;
    return v;
}
/* Type byte of the next value without consuming it (-1 at the end). */
static inline int eh_mp_peek(const eh_mp_reader *r) { return r->pos < r->len ? r->buf[r->pos] : -1; }

static inline int eh_mp_get_int(eh_mp_reader *r, int64_t *out)
{
    if (eh_mp__need(r, 1)) return -1;
    uint8_t t = r->buf[r->pos++];
    int sz = 0, sgn = 0;
    if (t < 0x80) { *out = t; return 0; }
    if (t >= 0xe0) { *out = (int8_t)t; return 0; }
    switch (t) {
    case 0xcc: sz = 1; break; case 0xcd: sz = 2; break; case 0xce: sz = 4; break; case 0xcf: sz = 8; break;
    case 0xd0: sz = 1; sgn = 1; break; case 0xd1: sz = 2; sgn = 1; break;
    case 0xd2: sz = 4; sgn = 1; break; case 0xd3: sz = 8; sgn = 1; break;
    default: return r->err = -1;
    }
    if (eh_mp__need(r, (uint32_t)sz)) return -1;
    uint64_t v = eh_mp__be(r, sz);
    if (sgn && sz < 8 && (v >> (8 * sz - 1)))
        v |= ~0ull << (8 * sz);
    if (!sgn && t == 0xcf && (v >> 63))
        return r->err = -1; /* uint64 beyond int64: use a wider reader */
    *out = (int64_t)v;
    return 0;
}
static inline int eh_mp_get_bool(eh_mp_reader *r, int *out)
{
    if (eh_mp__need(r, 1)) return -1;
    uint8_t t = r->buf[r->pos];
    if (t != 0xc2 && t != 0xc3) return r->err = -1;
    r->pos++;
    *out = t == 0xc3;
    return 0;
}
static inline int eh_mp_get_f64(eh_mp_reader *r, double *out)
{
    if (eh_mp__need(r, 1)) return -1;
    uint8_t t = r->buf[r->pos];
    if (t == 0xcb) {
        r->pos++;
        if (eh_mp__need(r, 8)) return -1;
        union { double d; uint64_t u; } c;
        c.u = eh_mp__be(r, 8);
        *out = c.d;
        return 0;
    }
    if (t == 0xca) {
        r->pos++;
        if (eh_mp__need(r, 4)) return -1;
        union { float f; uint32_t u; } c;
        c.u = (uint32_t)eh_mp__be(r, 4);
        *out = c.f;
        return 0;
    }
    int64_t i;
    if (eh_mp_get_int(r, &i)) return -1;
    *out = (double)i;
    return 0;
}
static inline int eh_mp__get_len(eh_mp_reader *r, uint8_t fixmask, uint8_t fix, uint32_t fixbits,
                                 uint8_t t8, uint8_t t16, uint8_t t32, uint32_t *n)
{
    if (eh_mp__need(r, 1)) return -1;
    uint8_t t = r->buf[r->pos++];
    if (fixmask && (t & fixmask) == fix) { *n = t & fixbits; return 0; }
    int sz = t == t8 && t8 ? 1 : t == t16 ? 2 : t == t32 ? 4 : 0;
    if (!sz || eh_mp__need(r, (uint32_t)sz)) return r->err = -1;
    *n = (uint32_t)eh_mp__be(r, sz);
    return 0;
}
/* Strings and bins are returned in place (no copy). */
static inline int eh_mp_get_str(eh_mp_reader *r, const char **s, uint32_t *n)
{
    if (eh_mp__get_len(r, 0xe0, 0xa0, 0x1f, 0xd9, 0xda, 0xdb, n) || eh_mp__need(r, *n)) return -1;
    *s = (const char *)r->buf + r->pos;
    r->pos += *n;
    return 0;
}
static inline int eh_mp_get_bin(eh_mp_reader *r, const uint8_t **p, uint32_t *n)
{
    if (eh_mp__get_len(r, 0, 0, 0, 0xc4, 0xc5, 0xc6, n) || eh_mp__need(r, *n)) return -1;
    *p = r->buf + r->pos;
    r->pos += *n;
    return 0;
}
static inline int eh_mp_get_array(eh_mp_reader *r, uint32_t *n) { return eh_mp__get_len(r, 0xf0, 0x90, 0x0f, 0, 0xdc, 0xdd, n); }
static inline int eh_mp_get_map(eh_mp_reader *r, uint32_t *n) { return eh_mp__get_len(r, 0xf0, 0x80, 0x0f, 0, 0xde, 0xdf, n); }
static inline int eh_mp_get_nil(eh_mp_reader *r)
{
    if (eh_mp__need(r, 1) || r->buf[r->pos] != 0xc0) return r->err = -1;
    r->pos++;
    return 0;
}
#endif
