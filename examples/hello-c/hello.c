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
    uint8_t cfg[64];
    const char *greeting = "hello";
    int32_t n = eh_config_str("greeting", cfg, sizeof cfg, &greeting);
    uint32_t glen = n >= 0 ? (uint32_t)n : 5;
    if (n < 0)
        greeting = "hello";
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
    char digits[20];
    at = append(at, digits, eh_dec64(visits, digits));
    at = append(at, ")", 1);
    eh_log(EH_LOG_INFO, "hello handled a request");
    eh_set_header_str("content-type", "text/plain");
    return eh_respond(out, at);
}
