/* etag-c: CRC32C-based ETags and integrity checks for request bodies. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

/* The body's CRC32C as 8 hex digits, also set as a strong ETag header. */
EDGEHOST_HANDLER(etag)
{
    static char out[10];
    uint32_t crc = eh_crc32c(in, in_len, 0);
    out[0] = '"';
    eh_hex32(crc, out + 1);
    out[9] = '"';
    eh_response_set_header("etag", 4, out, 10);
    return eh_respond(out + 1, 8);
}

/* 200 if the body matches the If-Match header's CRC, 412 otherwise. */
EDGEHOST_HANDLER(verify)
{
    char want[16];
    int32_t n = eh_request_header("if-match", 8, want, sizeof want);
    if (n < 0) {
        eh_response_set_status(428);
        return eh_respond_str("missing If-Match");
    }
    char got[8];
    eh_hex32(eh_crc32c(in, in_len, 0), got);
    const char *w = want;
    uint32_t wl = (uint32_t)n <= sizeof want ? (uint32_t)n : 0;
    if (wl == 10 && w[0] == '"') {
        w++;
        wl -= 2;
    }
    int same = wl == 8;
    for (uint32_t i = 0; same && i < 8; i++)
        same = w[i] == got[i];
    eh_response_set_status(same ? 200 : 412);
    return eh_respond_str(same ? "match" : "mismatch");
}
