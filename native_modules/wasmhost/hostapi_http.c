/* Request accessors and response setters. The request is set by the host
 * before a handler call and is read-only to the tenant; getters follow the
 * ABI's copy-out rule: return the full length, write only if it fits. */
#include <string.h>
#include "wasmhost/imports.h"

#define GETTER(field)                                                                   \
    EH_IMPORT_DEF(request_##field)                                                      \
    {                                                                                   \
        eh_mem m = eh_caller_mem(caller);                                               \
        EH_RANGE_OR_TRAP("request_" #field, m, A(0), A(1), out);                        \
        (void)out; /* written by eh_copy_out through m */                               \
        const eh_request *r = &m.inst->req;                                             \
        args[0].i32 = eh_copy_out(&m, (uint32_t)A(0), (uint32_t)A(1), r->field,         \
                                  r->field##_len);                                      \
        return NULL;                                                                    \
    }
GETTER(method)
GETTER(path)
GETTER(query)
GETTER(headers)
#undef GETTER

/* Case-insensitive lookup in the msgpack map of str->str the host built
 * (host/request.py writes only fixstr/str8/str16/str32 and fixmap/map16/map32). */
static int mp_str(const uint8_t **p, const uint8_t *end, const uint8_t **s, uint32_t *len)
{
    if (*p >= end)
        return -1;
    uint8_t b = *(*p)++;
    uint32_t n;
    if ((b & 0xe0) == 0xa0) {
        n = b & 0x1f;
    } else if (b == 0xd9 && end - *p >= 1) {
        n = (*p)[0];
        *p += 1;
    } else if (b == 0xda && end - *p >= 2) {
        n = ((uint32_t)(*p)[0] << 8) | (*p)[1];
        *p += 2;
    } else if (b == 0xdb && end - *p >= 4) {
        n = ((uint32_t)(*p)[0] << 24) | ((uint32_t)(*p)[1] << 16) | ((uint32_t)(*p)[2] << 8) |
            (*p)[3];
        *p += 4;
    } else {
        return -1;
    }
    if ((uint64_t)(end - *p) < n)
        return -1;
    *s = *p;
    *len = n;
    *p += n;
    return 0;
}

static int mp_map(const uint8_t **p, const uint8_t *end, uint32_t *count)
{
    if (*p >= end)
        return -1;
    uint8_t b = *(*p)++;
    if ((b & 0xf0) == 0x80) {
        *count = b & 0x0f;
    } else if (b == 0xde && end - *p >= 2) {
        *count = ((uint32_t)(*p)[0] << 8) | (*p)[1];
        *p += 2;
    } else if (b == 0xdf && end - *p >= 4) {
        *count = ((uint32_t)(*p)[0] << 24) | ((uint32_t)(*p)[1] << 16) |
                 ((uint32_t)(*p)[2] << 8) | (*p)[3];
        *p += 4;
    } else {
        return -1;
    }
    return 0;
}

static int ieq(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

EH_IMPORT_DEF(request_header)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("request_header", m, A(0), A(1), name);
    EH_RANGE_OR_TRAP("request_header", m, A(2), A(3), out);
    (void)out; /* written by eh_copy_out through m */
    const eh_request *r = &m.inst->req;
    const uint8_t *p = r->headers, *end = r->headers + r->headers_len;
    uint32_t count;
    args[0].i32 = EH_ERR_NOT_FOUND;
    if (!r->headers_len || mp_map(&p, end, &count) < 0)
        return NULL;
    while (count--) {
        const uint8_t *k, *v;
        uint32_t kl, vl;
        if (mp_str(&p, end, &k, &kl) < 0 || mp_str(&p, end, &v, &vl) < 0)
            return NULL;
        if (kl == (uint32_t)A(1) && ieq(k, name, kl)) {
            args[0].i32 = eh_copy_out(&m, (uint32_t)A(2), (uint32_t)A(3), v, vl);
            return NULL;
        }
    }
    return NULL;
}

/* request_body(out, cap, offset): copies body[offset:offset+cap); returns the
 * number of bytes left from offset (so a tenant can read in chunks). */
EH_IMPORT_DEF(request_body)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("request_body", m, A(0), A(1), dst);
    const eh_request *r = &m.inst->req;
    uint32_t off = (uint32_t)A(2);
    if (off > r->body_len) {
        args[0].i32 = EH_ERR_INVALID;
        return NULL;
    }
    uint32_t left = r->body_len - off;
    uint32_t n = left < (uint32_t)A(1) ? left : (uint32_t)A(1);
    if (n) {
        memcpy(dst, r->body + off, n);
        eh_fresh_mark(m.inst, A(0), n);
    }
    args[0].i32 = (int32_t)left;
    return NULL;
}

EH_IMPORT_DEF(response_set_status)
{
    eh_mem m = eh_caller_mem(caller);
    if (A(0) < 100 || A(0) > 599) {
        args[0].i32 = EH_ERR_INVALID;
        return NULL;
    }
    m.inst->resp.status = A(0);
    args[0].i32 = 0;
    return NULL;
}

static int header_token_ok(const uint8_t *s, uint32_t n, int is_value)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '\r' || c == '\n' || c == 0)
            return 0;
        if (!is_value && (c <= ' ' || c == ':' || c >= 127))
            return 0;
    }
    return is_value || n > 0;
}

EH_IMPORT_DEF(response_set_header)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("response_set_header", m, A(0), A(1), name);
    EH_RANGE_OR_TRAP("response_set_header", m, A(2), A(3), val);
    eh_response *resp = &m.inst->resp;
    uint32_t nl = (uint32_t)A(1), vl = (uint32_t)A(3);
    if (!header_token_ok(name, nl, 0) || !header_token_ok(val, vl, 1)) {
        args[0].i32 = EH_ERR_INVALID;
        return NULL;
    }
    if ((uint64_t)resp->headers_len + nl + vl + 2 > EH_RESP_HEADERS_MAX) {
        args[0].i32 = EH_ERR_QUOTA;
        return NULL;
    }
    memcpy(resp->headers + resp->headers_len, name, nl);
    resp->headers[resp->headers_len + nl] = 0;
    memcpy(resp->headers + resp->headers_len + nl + 1, val, vl);
    resp->headers[resp->headers_len + nl + 1 + vl] = 0;
    resp->headers_len += nl + vl + 2;
    resp->header_count++;
    args[0].i32 = 0;
    return NULL;
}

/* The body stays in linear memory; the host reads it after the handler
 * returns (the instance is not reused until then), so no copy is made here. */
EH_IMPORT_DEF(response_set_body)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("response_set_body", m, A(0), A(1), body);
    (void)body; /* read by the host after the handler returns */
    m.inst->resp.body_ptr = (uint32_t)A(0);
    m.inst->resp.body_len = (uint32_t)A(1);
    m.inst->resp.has_body = 1;
    args[0].i32 = 0;
    return NULL;
}
