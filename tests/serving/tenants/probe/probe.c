/* probe: the serving tests' well-behaved tenant. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

static char out[8192];
static uint32_t at;

static void put(const void *p, uint32_t n)
{
    const char *s = p;
    for (uint32_t i = 0; i < n && at < sizeof out; i++)
        out[at++] = s[i];
}

static void field(const char *name, int32_t (*get)(void *, uint32_t))
{
    char buf[1024];
    int32_t n = get(buf, sizeof buf);
    put(name, eh_strlen(name));
    put("=", 1);
    if (n > 0)
        put(buf, (uint32_t)n <= sizeof buf ? (uint32_t)n : sizeof buf);
    put("\n", 1);
}

/* "method=..\npath=..\nquery=..\nx-test=..\ngreeting=..\nbody=<body>"; the
 * x-status header, when present, becomes the response status. */
EDGEHOST_HANDLER(echo)
{
    at = 0;
    field("method", eh_request_method);
    field("path", eh_request_path);
    field("query", eh_request_query);
    char v[256];
    int32_t n = eh_request_header("x-test", 6, v, sizeof v);
    put("x-test=", 7);
    if (n > 0)
        put(v, (uint32_t)n);
    put("\ngreeting=", 10);
    uint8_t cfg[64];
    const char *g = "";
    n = eh_config_str("greeting", cfg, sizeof cfg, &g);
    if (n > 0)
        put(g, (uint32_t)n);
    put("\nbody=", 6);
    put(in, in_len);
    n = eh_request_header("x-status", 8, v, sizeof v);
    if (n == 3)
        eh_response_set_status((v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0'));
    eh_set_header_str("x-probe", "yes");
    return eh_respond(out, at);
}

/* Response headers up to the tenant's header quota (EH_RESP_HEADERS_MAX):
 * x-fill-0, x-fill-1, ... of 200 bytes each, until the host says QUOTA. */
EDGEHOST_HANDLER(fullheaders)
{
    char name[16] = "x-fill-", val[201];
    for (int i = 0; i < 200; i++)
        val[i] = (char)('a' + i % 26);
    val[200] = 0;
    int i = 0;
    for (;; i++) {
        name[7] = (char)('0' + i / 10);
        name[8] = (char)('0' + i % 10);
        name[9] = 0;
        if (eh_set_header_str(name, val) != 0)
            break;
    }
    char n[3] = {(char)('0' + i / 10), (char)('0' + i % 10), 0};
    return eh_respond_str(n);
}

/* Busy until ?ms=N milliseconds (or ?us=N microseconds) from now. */
static void busy_for_query_ms(void)
{
    char q[32];
    int32_t n = eh_request_query(q, sizeof q);
    uint64_t t = 0;
    for (int32_t i = 3; i < n && i < (int32_t)sizeof q && q[i] >= '0' && q[i] <= '9'; i++)
        t = t * 10 + (uint64_t)(q[i] - '0');
    int64_t unit = n >= 3 && q[0] == 'u' ? 1000 : 1000000;
    int64_t end = eh_time_monotonic_ns() + (int64_t)t * unit;
    while (eh_time_monotonic_ns() < end) {
    }
}

/* Busy for ?ms=N milliseconds or ?us=N microseconds (a request that is in
 * flight for a while);
 * no effect outside the instance, so the server may stop and rerun it. */
EDGEHOST_HANDLER(sleep)
{
    busy_for_query_ms();
    return eh_respond_str("slept");
}

/* The same after a log line: an effect, so once it has run the call cannot
 * be stopped and run again. */
EDGEHOST_HANDLER(logsleep)
{
    eh_log(EH_LOG_INFO, "logsleep");
    busy_for_query_ms();
    return eh_respond_str("slept");
}
