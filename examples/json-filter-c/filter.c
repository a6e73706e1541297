/* json-filter-c: validates JSON bodies and extracts values by JSON Pointer
 * (RFC 6901) with the JSON kernels; malformed input is a 400 naming the error
 * and its byte offset. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

/* ---- the response under construction: one static buffer, overflow is sticky ---- */
#define OUT_CAP (1u << 20)
static char out[OUT_CAP];
static uint32_t out_len;
static int out_overflow;

static void put(const void *p, uint32_t n)
{
    if (n > OUT_CAP - out_len) {
        out_overflow = 1;
        return;
    }
    const char *s = p;
    for (uint32_t i = 0; i < n; i++)
        out[out_len++] = s[i];
}
static void put_str(const char *s) { put(s, eh_strlen(s)); }
static void put_u64(uint64_t v)
{
    char d[20];
    put(d, eh_dec64(v, d));
}
/* `s` as a JSON string literal (quotes, backslashes and controls escaped). */
static void put_json_string(const char *s, uint32_t n)
{
    static const char hex[] = "0123456789abcdef";
    put("\"", 1);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(e, 6);
        } else {
            put(&s[i], 1);
        }
    }
    put("\"", 1);
}

static int32_t finish(int32_t status)
{
    if (out_overflow) {
        out_len = 0;
        out_overflow = 0;
        put_str("{\"error\":\"result-too-large\"}");
        status = 413;
    }
    eh_response_set_status(status);
    eh_set_header_str("content-type", "application/json");
    int32_t rc = eh_respond(out, out_len);
    out_len = 0;
    return rc;
}

/* A 400 naming the JSON error kind and its byte offset (too-deep included:
 * the body is what is wrong). */
static int32_t reject(const eh_offload_result *res)
{
    const char *kind = eh_json_error_name(res->detail); /* generated from the ABI */
    put_str("{\"error\":\"");
    put_str(kind ? kind : "error");
    put_str("\",\"offset\":");
    put_u64(res->err_offset);
    put_str("}");
    return finish(400);
}

/* The import failed (kernel not allowed, guest fault, timeout): a 503. */
static int32_t unavailable(int32_t rc)
{
    put_str("{\"error\":\"kernel-unavailable\",\"code\":");
    put_u64((uint64_t)(-(int64_t)rc));
    put_str("}");
    return finish(503);
}

static uint32_t max_depth(void)
{
    uint8_t buf[16];
    int32_t n = eh_config_get_str("max_depth", buf, sizeof buf);
    int64_t v = 0;
    if (n < 0 || (uint32_t)n > sizeof buf)
        return 0;
    eh_mp_reader r = eh_mp_reader_init(buf, (uint32_t)n);
    return eh_mp_get_int(&r, &v) == 0 && v > 0 && v <= 1024 ? (uint32_t)v : 0;
}

/* 200 {"valid":true,"tokens":N} or 400 {"error":KIND,"offset":N}. */
EDGEHOST_HANDLER(validate)
{
    eh_offload_result res;
    int32_t rc = eh_json_validate(in, in_len, max_depth(), &res);
    if (rc != 0)
        return unavailable(rc);
    if (res.status != EH_K_OK)
        return reject(&res);
    put_str("{\"valid\":true,\"tokens\":");
    put_u64(res.value);
    put_str("}");
    return finish(200);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int starts_with(const char *s, uint32_t n, const char *prefix)
{
    uint32_t i = 0;
    for (; prefix[i]; i++)
        if (i >= n || s[i] != prefix[i])
            return 0;
    return 1;
}

/* The percent-decoded value of `pointer=` in the query, in place in q; -1 if absent. */
static int32_t query_pointer(char *q, uint32_t n)
{
    for (uint32_t i = 0; i < n;) {
        uint32_t end = i;
        while (end < n && q[end] != '&')
            end++;
        if (starts_with(q + i, end - i, "pointer=")) {
            uint32_t w = 0;
            for (uint32_t r = i + 8; r < end; r++) {
                int hi, lo;
                if (q[r] == '%' && r + 2 < end + 1 && (hi = hexval(q[r + 1])) >= 0 &&
                    (lo = hexval(q[r + 2])) >= 0) {
                    q[w++] = (char)(hi * 16 + lo);
                    r += 2;
                } else {
                    q[w++] = q[r] == '+' ? ' ' : q[r];
                }
            }
            return (int32_t)w;
        }
        i = end + 1;
    }
    return -1;
}

/* The value at the pointer given as `?pointer=` (or the x-json-pointer
 * header): 200 with its JSON text and x-json-type; 404 when absent; 400 for a
 * malformed document or pointer. */
EDGEHOST_HANDLER(extract)
{
    static char ptr[4096];
    int32_t n = eh_request_query(ptr, sizeof ptr);
    n = n >= 0 && (uint32_t)n <= sizeof ptr ? query_pointer(ptr, (uint32_t)n) : -1;
    if (n < 0) {
        n = eh_request_header("x-json-pointer", 14, ptr, sizeof ptr);
        if (n < 0 || (uint32_t)n > sizeof ptr) {
            put_str("{\"error\":\"missing-pointer\"}");
            return finish(400);
        }
    }
    eh_offload_result res;
    const uint8_t *text;
    int32_t rc = eh_json_pointer(in, in_len, ptr, (uint32_t)n, max_depth(), &res, &text);
    if (rc != 0)
        return unavailable(rc);
    if (res.status == EH_K_ENOTFOUND) {
        put_str("{\"error\":\"not-found\",\"pointer\":");
        put_json_string(ptr, (uint32_t)n);
        put_str("}");
        return finish(404);
    }
    if (res.status != EH_K_OK)
        return reject(&res);
    /* A double the kernel left as text is still a double to the client. */
    const char *type = eh_json_type_name(res.detail == EH_JSON_T_DOUBLE_TEXT ? EH_JSON_T_DOUBLE
                                                                           : res.detail);
    eh_set_header_str("x-json-type", type ? type : "unknown");
    put(text, (uint32_t)res.out_len);
    return finish(200);
}

/* The configured `fields` as a msgpack reader positioned on their first
 * string; *count is 0 when the config has none. -1 when the value is not an
 * array of strings. */
static int fields(eh_mp_reader *r, uint32_t *count)
{
    static uint8_t cfg[8192];
    int32_t n = eh_config_get_str("fields", cfg, sizeof cfg);
    *count = 0;
    if (n == EH_ERR_NOT_FOUND)
        return 0;
    if (n < 0 || (uint32_t)n > sizeof cfg)
        return -1;
    *r = eh_mp_reader_init(cfg, (uint32_t)n);
    if (eh_mp_get_array(r, count) < 0)
        return -1;
    eh_mp_reader check = *r;
    for (uint32_t i = 0; i < *count; i++) {
        const char *p;
        uint32_t plen;
        if (eh_mp_get_str(&check, &p, &plen) < 0)
            return -1;
    }
    return 0;
}

/* Rejects a config whose `fields` is not an array of strings. */
EDGEHOST_CONFIGURE()
{
    eh_mp_reader r;
    uint32_t count;
    if (fields(&r, &count) < 0) {
        eh_log(EH_LOG_ERROR, "config `fields` must be an array of JSON pointer strings");
        return 1;
    }
    return 0;
}

/* {"<pointer>": value, ...} for the configured `fields` (null where absent);
 * 400 when the body is not valid JSON. */
EDGEHOST_HANDLER(select)
{
    eh_mp_reader r;
    uint32_t count;
    if (fields(&r, &count) < 0)
        return 1; /* unreachable: edgehost_configure rejected this config */
    uint32_t depth = max_depth();
    /* Validate once, so that a bad body is a 400 even with no fields. */
    eh_offload_result res;
    int32_t rc = eh_json_validate(in, in_len, depth, &res);
    if (rc != 0)
        return unavailable(rc);
    if (res.status != EH_K_OK)
        return reject(&res);
    put("{", 1);
    for (uint32_t i = 0; i < count; i++) {
        const char *p;
        uint32_t plen;
        eh_mp_get_str(&r, &p, &plen); /* checked by fields() */
        const uint8_t *text;
        rc = eh_json_pointer(in, in_len, p, plen, depth, &res, &text);
        if (rc != 0)
            return unavailable(rc);
        if (i)
            put(",", 1);
        put_json_string(p, plen);
        put(":", 1);
        if (res.status == EH_K_OK)
            put(text, (uint32_t)res.out_len);
        else if (res.status == EH_K_ENOTFOUND)
            put_str("null");
        else
            return (out_len = 0, reject(&res));
    }
    put("}", 1);
    return finish(200);
}
