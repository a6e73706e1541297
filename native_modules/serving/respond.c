/* What the server says itself: error responses with a request id, one JSON
 * line per error (written at once, one write(2)), and the access log
 * (buffered by the loop thread, flushed once per loop iteration). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "serving/server.h"

struct MHD_Response *eh_error_response(eh_job *j, int status, const char *reason)
{
    char body[256];
    int n = snprintf(body, sizeof body, "edgehost: %s (request %s)\n", reason, j->id);
    if (n < 0 || (size_t)n >= sizeof body)
        n = (int)strlen(body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (r) {
        MHD_add_response_header(r, "content-type", "text/plain; charset=utf-8");
        MHD_add_response_header(r, "x-request-id", j->id);
    }
    return r;
}

/* Appends s as a JSON string body (no quotes) to out; returns the new length. */
static size_t json_str(char *out, size_t at, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && at + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + at, "\\u00", 4);
            out[at + 4] = hex[c >> 4];
            out[at + 5] = hex[c & 15];
            at += 6;
        } else {
            out[at++] = (char)c;
        }
    }
    return at;
}

static size_t put(char *out, size_t at, size_t cap, const char *fmt, ...)
{
    if (at >= cap)
        return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + at, cap - at, fmt, ap);
    va_end(ap);
    if (n < 0)
        return at;
    return at + (size_t)n < cap ? at + (size_t)n : cap - 1;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t request_fields(char *line, size_t at, size_t cap, const eh_job *j)
{
    at = put(line, at, cap, ",\"request_id\":\"%s\",\"method\":\"", j->id);
    at = json_str(line, at, cap, j->method ? j->method : "", j->method ? j->method_len : 0);
    at = put(line, at, cap, "\",\"target\":\"");
    const char *uri = j->uri ? j->uri : "";
    at = json_str(line, at, cap, uri, strlen(uri) > 512 ? 512 : strlen(uri));
    return put(line, at, cap, "\"");
}

void eh_log_error(eh_srv *s, const eh_job *j, const char *tenant, int cause, int status,
                  const char *detail)
{
    int fd = s->cfg.error_log_fd;
    if (fd < 0)
        return;
    char line[1536];
    size_t cap = sizeof line - 2, at = 0;
    at = put(line, at, cap, "{\"ts\":%.6f,\"level\":\"error\",\"worker\":%u,\"tenant\":\"",
             wall_seconds(), s->cfg.worker);
    at = json_str(line, at, cap, tenant, strlen(tenant));
    at = put(line, at, cap, "\",\"cause\":\"%s\",\"status\":%d", eh_srv_cause_names[cause],
             status);
    at = request_fields(line, at, cap, j);
    if (detail) {
        at = put(line, at, cap, ",\"detail\":\"");
        at = json_str(line, at, cap, detail, strlen(detail));
        at = put(line, at, cap, "\"");
    }
    at = put(line, at, cap, "}");
    line[at++] = '\n';
    ssize_t w = write(fd, line, at); /* one write: lines from threads never interleave */
    (void)w;
}

void eh_log_access(eh_srv *s, const eh_job *j, uint64_t now)
{
    if (s->cfg.access_log_fd < 0)
        return;
    if (s->alog_cap - s->alog_len < 1024) {
        eh_log_flush(s);
        if (s->alog_cap - s->alog_len < 1024)
            return;
    }
    char *line = s->alog + s->alog_len;
    size_t cap = 1022, at = 0;
    at = put(line, at, cap, "{\"ts\":%.6f,\"worker\":%u,\"tenant\":\"", wall_seconds(),
             s->cfg.worker);
    const char *tenant = j->svc ? j->svc->name : "";
    at = json_str(line, at, cap, tenant, strlen(tenant));
    at = put(line, at, cap, "\",\"status\":%d,\"us\":%llu,\"bytes\":%llu", j->status,
             (unsigned long long)((now - j->t_start) / 1000),
             (unsigned long long)j->resp_bytes);
    at = request_fields(line, at, cap, j);
    at = put(line, at, cap, "}");
    line[at++] = '\n';
    s->alog_len += at;
}

void eh_log_flush(eh_srv *s)
{
    size_t off = 0;
    while (off < s->alog_len) {
        ssize_t w = write(s->cfg.access_log_fd, s->alog + off, s->alog_len - off);
        if (w <= 0)
            break; /* a full disk loses access-log lines, never requests */
        off += (size_t)w;
    }
    s->alog_len = 0;
}
