/* hello-c: the smallest useful tenant -- config, kv, log and response. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

static char out[512];

static uint32_t append(uint32_t at, const void *src, uint32_t n)
{
    const char *s = src;
    for (uint32_t i = 0; i < n && at < sizeof out; i++)
        out[at++] = s[i];
    return at;
}

/* "<greeting>, <body>! (visit N)": greeting from config, N counted in kv. */
EDGEHOST_HANDLER(hello)
{
    /* config values are msgpack; a short string is 0xa0|len then the bytes */
    uint8_t cfg[64];
    int32_t n = eh_config_get_str("greeting", cfg, sizeof cfg);
    const char *greeting = "hello";
    uint32_t glen = 5;
    if (n > 1 && n <= (int32_t)sizeof cfg && (cfg[0] & 0xe0) == 0xa0 &&
        (uint32_t)(cfg[0] & 0x1f) == (uint32_t)n - 1) {
        greeting = (const char *)cfg + 1;
        glen = (uint32_t)n - 1;
    }
    uint32_t visits = 0;
    if (eh_kv_get_str("visits", &visits, sizeof visits) != sizeof visits)
        visits = 0;
    visits++;
    eh_kv_put_str("visits", &visits, sizeof visits);

    uint32_t at = append(0, greeting, glen);
    at = append(at, ", ", 2);
    at = append(at, in, in_len ? in_len : 5);
    if (!in_len)
        at = append(at - 5, "world", 5);
    at = append(at, "! (visit ", 9);
    char digits[10];
    int d = 0;
    do {
        digits[d++] = (char)('0' + visits % 10);
        visits /= 10;
    } while (visits);
    while (d)
        at = append(at, &digits[--d], 1);
    at = append(at, ")", 1);
    eh_log(EH_LOG_INFO, "hello handled a request");
    eh_set_header_str("content-type", "text/plain");
    return eh_respond(out, at);
}
