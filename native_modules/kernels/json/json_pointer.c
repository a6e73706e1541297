/* RFC 6901 JSON Pointer over a document stage 1 + 2 already validated (so
 * strings are closed, containers balanced, escapes well formed) and its tape
 * (json.h): members and elements are stepped over by tape entry, a container
 * in one step by its link. Objects are searched in order and the first member
 * with the key wins (RFC 8259 leaves duplicates undefined). Keys are compared
 * after unescaping (\uXXXX to UTF-8) against the unescaped token. Reads of
 * `in` stay below len. */
#include "kernels/json/json.h"

/* p at an opening quote; returns the byte after the closing quote. */
static uint64_t skip_string(const uint8_t *in, uint64_t len, uint64_t p)
{
    for (p++; p < len; p++) {
        if (in[p] == '"')
            return p + 1;
        if (in[p] == '\\')
            p++;
    }
    return len;
}

static uint32_t hex4(const uint8_t *s)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = s[k];
        v = v * 16 + (c <= '9' ? (uint32_t)(c - '0') : (uint32_t)((c | 0x20) - 'a' + 10));
    }
    return v;
}

/* Decodes the string unit at in[*p] into buf; returns its byte count. */
static int key_unit(const uint8_t *in, uint64_t *p, uint8_t buf[4])
{
    uint8_t c = in[*p];
    if (c != '\\') {
        buf[0] = c;
        *p += 1;
        return 1;
    }
    uint8_t e = in[*p + 1];
    static const uint8_t simple[128] = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = 8,
                                        ['f'] = 12, ['n'] = 10, ['r'] = 13, ['t'] = 9};
    if (e != 'u') {
        buf[0] = simple[e & 127];
        *p += 2;
        return 1;
    }
    uint32_t cp = hex4(in + *p + 2);
    *p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* validated: a low surrogate escape follows */
        cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(in + *p + 2) - 0xDC00);
        *p += 6;
    }
    if (cp < 0x80) {
        buf[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (uint8_t)(0xC0 | cp >> 6);
        buf[1] = (uint8_t)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (uint8_t)(0xE0 | cp >> 12);
        buf[1] = (uint8_t)(0x80 | (cp >> 6 & 63));
        buf[2] = (uint8_t)(0x80 | (cp & 63));
        return 3;
    }
    buf[0] = (uint8_t)(0xF0 | cp >> 18);
    buf[1] = (uint8_t)(0x80 | (cp >> 12 & 63));
    buf[2] = (uint8_t)(0x80 | (cp >> 6 & 63));
    buf[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

/* Does the key whose opening quote is at q equal the pointer token [t, te)? */
static int key_equals(const uint8_t *in, uint64_t q, const uint8_t *t, const uint8_t *te)
{
    uint64_t p = q + 1;
    while (in[p] != '"') {
        uint8_t buf[4];
        int n = key_unit(in, &p, buf);
        for (int k = 0; k < n; k++) {
            if (t >= te)
                return 0;
            uint8_t tc = *t++;
            if (tc == '~')
                tc = *t++ == '0' ? '~' : '/';
            if (tc != buf[k])
                return 0;
        }
    }
    return t == te;
}

/* Array index token: "0" or [1-9][0-9]*; -1 otherwise (including "-"). */
static int64_t array_index(const uint8_t *t, const uint8_t *te)
{
    if (t == te || (te - t > 1 && *t == '0') || te - t > 18)
        return -1;
    int64_t v = 0;
    for (; t < te; t++) {
        if (*t < '0' || *t > '9')
            return -1;
        v = v * 10 + (*t - '0');
    }
    return v;
}

static void not_found(eh_offload_res *res) { res->status = EH_K_ENOTFOUND; }

/* Tape entry after the value at entry k. */
static inline uint64_t next_entry(const uint8_t *in, const eh_u32 *tape, uint64_t k)
{
    uint8_t c = in[tape[2 * k]];
    return (c == '{' || c == '[') ? (uint64_t)tape[2 * k + 1] + 1 : k + 1;
}

void eh_json_pointer(const uint8_t *in, uint64_t len, const eh_u32 *tape, uint64_t ntape,
                     const uint8_t *ptr, uint64_t plen, uint8_t *out, uint64_t cap,
                     eh_offload_res *res)
{
    for (uint64_t i = 0; i < plen; i++) {
        if ((i == 0 && ptr[0] != '/') ||
            (ptr[i] == '~' && (i + 1 == plen || (ptr[i + 1] != '0' && ptr[i + 1] != '1')))) {
            res->status = EH_K_EINVAL;
            res->detail = EH_JSON_E_BAD_POINTER;
            res->err_offset = i;
            return;
        }
    }
    uint64_t k = 0; /* the root value */
    const uint8_t *t = ptr, *pend = ptr + plen;
    while (t < pend) {
        const uint8_t *ts = t + 1, *te = ts;
        while (te < pend && *te != '/')
            te++;
        t = te;
        uint8_t c = in[tape[2 * k]];
        uint64_t close = tape[2 * k + 1];
        if (c == '{') {
            uint64_t j = k + 1;
            while (j < close && !key_equals(in, tape[2 * j], ts, te))
                j = next_entry(in, tape, j + 1);
            if (j >= close) {
                not_found(res);
                return;
            }
            k = j + 1;
        } else if (c == '[') {
            int64_t want = array_index(ts, te);
            uint64_t j = k + 1;
            for (; want > 0 && j < close; want--)
                j = next_entry(in, tape, j);
            if (want < 0 || j >= close) {
                not_found(res);
                return;
            }
            k = j;
        } else {
            not_found(res);
            return;
        }
    }
    (void)ntape;
    uint64_t p = tape[2 * k], e;
    uint8_t c = in[p];
    if (c == '{' || c == '[')
        e = (uint64_t)tape[2 * (uint64_t)tape[2 * k + 1]] + 1;
    else if (c == '"')
        e = skip_string(in, len, p);
    else
        for (e = p; e < len && !eh_json_is_term[in[e]]; e++)
            ;
    uint64_t v = 0;
    int type = c == '{'   ? EH_JSON_T_OBJECT
               : c == '[' ? EH_JSON_T_ARRAY
               : c == '"' ? EH_JSON_T_STRING
               : c == 't' ? EH_JSON_T_TRUE
               : c == 'f' ? EH_JSON_T_FALSE
               : c == 'n' ? EH_JSON_T_NULL
                          : eh_json_number_type(in + p, in + e, &v);
    if (type == EH_JSON_T_DOUBLE && !eh_json_number_double(in + p, in + e, &v))
        type = EH_JSON_T_DOUBLE_TEXT;
    res->detail = (uint32_t)type;
    res->value = v;
    res->err_offset = p;
    res->out_len = e - p;
    if (e - p > cap) {
        res->status = EH_K_ENOSPC;
        return;
    }
    __builtin_memcpy(out, in + p, e - p);
}
