/* Test tenant: decodes any msgpack value with the SDK reader and re-encodes
 * it with the SDK writer, so round trips check both against Python's msgpack. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

static uint8_t out[1 << 16];

static int copy_value(eh_mp_reader *r, eh_mp_writer *w, int depth)
{
    int t = eh_mp_peek(r);
    if (t < 0 || depth > 32)
        return -1;
    if (t == 0xc0)
        return eh_mp_get_nil(r) || eh_mp_put_nil(w);
    if (t == 0xc2 || t == 0xc3) {
        int b;
        return eh_mp_get_bool(r, &b) || eh_mp_put_bool(w, b);
    }
    if (t == 0xca || t == 0xcb) {
        double d;
        return eh_mp_get_f64(r, &d) || eh_mp_put_f64(w, d);
    }
    if ((t & 0xe0) == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb) {
        const char *s;
        uint32_t n;
        return eh_mp_get_str(r, &s, &n) || eh_mp_put_str(w, s, n);
    }
    if (t == 0xc4 || t == 0xc5 || t == 0xc6) {
        const uint8_t *p;
        uint32_t n;
        return eh_mp_get_bin(r, &p, &n) || eh_mp_put_bin(w, p, n);
    }
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        uint32_t n;
        if (eh_mp_get_array(r, &n) || eh_mp_put_array(w, n))
            return -1;
        while (n--)
            if (copy_value(r, w, depth + 1))
                return -1;
        return 0;
    }
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        uint32_t n;
        if (eh_mp_get_map(r, &n) || eh_mp_put_map(w, n))
            return -1;
        while (n--)
            if (copy_value(r, w, depth + 1) || copy_value(r, w, depth + 1))
                return -1;
        return 0;
    }
    int64_t v;
    return eh_mp_get_int(r, &v) || eh_mp_put_int(w, v);
}

EDGEHOST_HANDLER(echo)
{
    eh_mp_reader r = eh_mp_reader_init(in, in_len);
    eh_mp_writer w = eh_mp_writer_init(out, sizeof out);
    if (copy_value(&r, &w, 0) || r.pos != r.len)
        return 1;
    return eh_respond(out, w.len);
}
