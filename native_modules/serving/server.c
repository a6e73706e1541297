/*
 * The loop thread: libmicrohttpd in "external epoll" mode inside our own
 * epoll, next to the handler threads' result eventfd, a 100 ms tick (the
 * request timeout, gauges, drain) and the control eventfd.
 *
 * A request's life (MHD calls on_request several times per request):
 *   headers complete -> route (Host + path), refuse early: 404, 503 over
 *     the tenant's in-flight cap, 413 when Content-Length is over its body
 *     limit (answered before the body is read; MHD then closes)
 *   body chunks      -> appended; past the limit (chunked bodies): 413 now
 *   body complete    -> a proven-fast version runs here and now (inline) and
 *                       its response is queued; otherwise suspend the
 *                       connection and queue the job (dispatch.c)
 *   result           -> resume; the next call queues the response
 *   completed        -> count (stats.c), access log, drop the version's ref
 *
 * Request timeout: libmicrohttpd's own timeout restarts on every byte, so a
 * client trickling a header byte a second would hold its connection
 * forever. Each connection therefore owes a whole request within
 * request_timeout_ms of its start or of its previous response; the tick
 * shuts down the socket of one that does not deliver (the loop thread is
 * MHD's thread, so the fd cannot be reused under us).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "eh_abi.h"
#include "serving/server.h"

#define TICK_MS 100
#define DISCARD_MAX (64u << 10) /* body bytes dropped before a local answer; more: close */
#define DRAIN_IDLE_NS (100ull * 1000000) /* idle this long while draining: closed */
/* The connection's memory (libmicrohttpd's pool, zeroed whole after every
 * request) holds the request line and headers, one MHD_HTTP_Header record
 * per field (56 bytes, aligned: FIELD_COST counts it), and then the head of
 * the response. A request counts its line, names, values and FIELD_COST per
 * field against header_limit (431 past it); the pool is that limit plus
 * RESPONSE_HEAD_RESERVE, so any request admitted leaves room for the
 * largest response head a tenant can set (its EH_RESP_HEADERS_MAX quota,
 * plus ours: status line, date, length, type, request id, connection). */
#define FIELD_COST 64u
#define RESPONSE_HEAD_RESERVE (EH_RESP_HEADERS_MAX + 1024u)
enum { EV_MHD = 1, EV_DONE, EV_CTL, EV_TICK };

uint64_t eh_srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- connections owing a request (oldest first) ------------------------- */

static void wait_stop(eh_srv *s, eh_conn *c)
{
    if (!c->waiting)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->waiting_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->waiting_tail = c->prev;
    c->prev = c->next = NULL;
    c->waiting = 0;
}

static void wait_start(eh_srv *s, eh_conn *c)
{
    wait_stop(s, c);
    c->since = eh_srv_now();
    c->waiting = 1;
    c->prev = s->waiting_tail;
    if (s->waiting_tail)
        s->waiting_tail->next = c;
    else
        s->waiting_head = c;
    s->waiting_tail = c;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    eh_srv *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        eh_conn *c = calloc(1, sizeof *c);
        if (!c)
            return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        *socket_ctx = c;
        s->nconns++;
        s->m->accepted++;
        s->m->connections = s->nconns;
        wait_start(s, c);
    } else if (*socket_ctx) {
        eh_conn *c = *socket_ctx;
        wait_stop(s, c);
        free(c);
        *socket_ctx = NULL;
        s->nconns--;
        s->m->connections = s->nconns;
    }
}

static void reap(eh_srv *s, uint64_t now)
{
    uint64_t limit = (uint64_t)s->cfg.request_timeout_ms * 1000000ull;
    while (s->waiting_head) {
        eh_conn *c = s->waiting_head;
        uint64_t allowed = s->draining && limit > DRAIN_IDLE_NS ? DRAIN_IDLE_NS : limit;
        /* The list is in `since` order for one allowance; while draining the
         * shorter allowance applies to all, so the order still holds. */
        if (now - c->since < allowed)
            break;
        wait_stop(s, c);
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR); /* MHD sees EOF on its next run and closes */
        if (!s->draining)
            s->m->reaped++;
    }
}

/* ---- requests -------------------------------------------------------------- */

static eh_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* MHD's URI log callback: the first thing known of a request (raw target). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    eh_srv *s = cls;
    eh_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->srv = s;
    j->conn = conn;
    j->cause = -1;
    j->uri = strdup(uri ? uri : "");
    j->c = conn_of(conn);
    snprintf(j->id, sizeof j->id, "%x-%llx", s->pid, (unsigned long long)++s->req_seq);
    return j;
}

static void job_free(eh_job *j)
{
    if (j->resp)
        MHD_destroy_response(j->resp);
    free(j->uri);
    free(j->hdrs);
    free(j->body);
    free(j);
}

static int hdr_reserve(eh_job *j, uint32_t more)
{
    if (j->hdrs_len + more <= j->hdrs_cap)
        return 0;
    uint32_t cap = j->hdrs_cap ? j->hdrs_cap : 512;
    while (cap < j->hdrs_len + more)
        cap *= 2;
    uint8_t *p = realloc(j->hdrs, cap);
    if (!p)
        return -1;
    j->hdrs = p;
    j->hdrs_cap = cap;
    return 0;
}

/* msgpack str (fixstr/str8/str16/str32), lowercased when lower. */
static int mp_str(eh_job *j, const char *s, size_t n, int lower)
{
    if (n > UINT32_MAX - 16 || hdr_reserve(j, (uint32_t)n + 5) < 0)
        return -1;
    uint8_t *o = j->hdrs + j->hdrs_len;
    if (n < 32) {
        *o++ = (uint8_t)(0xa0 | n);
    } else if (n < 256) {
        *o++ = 0xd9;
        *o++ = (uint8_t)n;
    } else if (n < 65536) {
        *o++ = 0xda;
        *o++ = (uint8_t)(n >> 8);
        *o++ = (uint8_t)n;
    } else {
        *o++ = 0xdb;
        for (int sh = 24; sh >= 0; sh -= 8)
            *o++ = (uint8_t)(n >> sh);
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        *o++ = (uint8_t)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    j->hdrs_len = (uint32_t)(o - j->hdrs);
    return 0;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    eh_job *j = cls;
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    j->head_bytes += kl + vl + FIELD_COST;
    if (mp_str(j, key, kl, 1) < 0 || mp_str(j, value ? value : "", vl, 0) < 0)
        return MHD_NO;
    return MHD_YES;
}

/* The request's headers as the msgpack map str->str the host API reads;
 * head_bytes: the request line plus each field's name, value and FIELD_COST. */
static int build_headers(eh_job *j)
{
    if (hdr_reserve(j, 5) < 0)
        return -1;
    j->head_bytes = j->method_len + strlen(j->uri);
    j->hdrs_len = 5; /* map32 header, count filled in below */
    int n = MHD_get_connection_values(j->conn, MHD_HEADER_KIND, add_header, j);
    if (n < 0)
        return -1;
    j->hdrs[0] = 0xdf;
    for (int i = 0; i < 4; i++)
        j->hdrs[1 + i] = (uint8_t)((uint32_t)n >> (24 - 8 * i));
    return 0;
}

static void split_target(eh_job *j)
{
    const char *q = strchr(j->uri, '?');
    size_t len = strlen(j->uri);
    j->path_off = 0;
    j->path_len = (uint32_t)(q ? (size_t)(q - j->uri) : len);
    j->query_off = q ? (uint32_t)(q - j->uri + 1) : (uint32_t)len;
    j->query_len = q ? (uint32_t)(len - j->query_off) : 0;
}

/* Answer j now with an error of ours; `early` = before the body was read. */
static enum MHD_Result answer_local(eh_srv *s, eh_job *j, int cause, int status,
                                    const char *reason)
{
    j->cause = cause;
    j->status = status;
    if (!j->resp)
        j->resp = eh_error_response(j, status, reason);
    if (!j->resp)
        return MHD_NO;
    if (s->draining)
        MHD_add_response_header(j->resp, "connection", "close");
    j->phase = J_ANSWERED;
    return MHD_queue_response(j->conn, (unsigned)status, j->resp);
}

static void route(eh_srv *s, eh_job *j)
{
    split_target(j);
    const char *host = MHD_lookup_connection_value(j->conn, MHD_HEADER_KIND, "host");
    char lhost[256];
    size_t hl = 0;
    if (host) {
        for (; host[hl] && host[hl] != ':' && hl < sizeof lhost - 1; hl++)
            lhost[hl] = (char)(host[hl] >= 'A' && host[hl] <= 'Z' ? host[hl] + 32 : host[hl]);
    }
    const eh_route *r = eh_routes_find(s->routes, lhost, hl, j->uri, j->path_len);
    if (!r)
        return;
    j->svc = r->svc;
    j->handler = r->handler;
    j->path_off = r->strip;
    j->path_len -= r->strip;
    j->body_limit = r->svc->body_limit;
    eh_pool_ref(r->svc->pool);
    r->svc->inflight++;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ctx)
{
    eh_srv *s = cls;
    eh_job *j = *ctx;
    if (!j)
        return MHD_NO; /* out of memory in on_uri: drop the connection */
    switch (j->phase) {
    case J_HEADERS: {
        j->t_start = eh_srv_now();
        j->method = method;
        j->method_len = (uint32_t)strlen(method);
        j->phase = J_BODY;
        route(s, j);
        if (!j->svc) {
            j->cause = EH_CAUSE_NOT_FOUND;
            return MHD_YES; /* answered once the (small) body is read */
        }
        if (j->svc->inflight > j->svc->max_inflight) {
            j->cause = EH_CAUSE_OVERLOAD;
            eh_log_error(s, j, j->svc->name, EH_CAUSE_OVERLOAD, 503, "in-flight cap reached");
            return MHD_YES;
        }
        if (build_headers(j) < 0)
            return answer_local(s, j, EH_CAUSE_INTERNAL, 500, "out of memory");
        if (j->head_bytes > s->cfg.header_limit)
            return answer_local(s, j, EH_CAUSE_HEADERS_TOO_LARGE, 431, "request headers too large");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "content-length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > j->body_limit)
                return answer_local(s, j, EH_CAUSE_BODY_TOO_LARGE, 413, "request body too large");
            if (n && !(j->body = malloc(n))) {
                return answer_local(s, j, EH_CAUSE_INTERNAL, 500, "out of memory");
            }
            j->body_cap = n;
        }
        return MHD_YES;
    }
    case J_BODY:
        if (*upload_size) {
            size_t n = *upload_size;
            *upload_size = 0;
            if (j->cause >= 0) { /* a local answer is coming: drop the body */
                j->discarded += n;
                return j->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
            }
            if (j->body_len + n > j->body_limit) {
                /* Past the limit mid-body (chunked): MHD takes no response
                 * while a body is coming, so drop the rest (up to
                 * DISCARD_MAX, then close) and answer 413 at its end. */
                j->cause = EH_CAUSE_BODY_TOO_LARGE;
                j->discarded = n;
                free(j->body);
                j->body = NULL;
                j->body_len = j->body_cap = 0;
                return MHD_YES;
            }
            if (j->body_len + n > j->body_cap) {
                uint64_t cap = j->body_cap ? j->body_cap * 2 : 4096;
                while (cap < j->body_len + n)
                    cap *= 2;
                if (cap > j->body_limit)
                    cap = j->body_limit;
                uint8_t *p = realloc(j->body, cap);
                if (!p)
                    return answer_local(s, j, EH_CAUSE_INTERNAL, 500, "out of memory");
                j->body = p;
                j->body_cap = cap;
            }
            memcpy(j->body + j->body_len, upload, n);
            j->body_len += n;
            return MHD_YES;
        }
        if (j->cause >= 0)
            goto local;
        if (j->c)
            wait_stop(s, j->c);
        if (eh_disp_run_inline(s->disp, j))
            goto respond;
        MHD_suspend_connection(conn);
        j->phase = J_QUEUED;
        s->jobs_out++;
        eh_disp_submit(s->disp, j);
        return MHD_YES;
    case J_DONE:
    respond:
        if (!j->resp)
            return MHD_NO;
        if (s->draining)
            MHD_add_response_header(j->resp, "connection", "close");
        j->phase = J_ANSWERED;
        return MHD_queue_response(conn, (unsigned)j->status, j->resp);
    default:
        return MHD_YES;
    }
local:
    if (j->cause == EH_CAUSE_NOT_FOUND)
        return answer_local(s, j, EH_CAUSE_NOT_FOUND, 404, "no route");
    if (j->cause == EH_CAUSE_BODY_TOO_LARGE)
        return answer_local(s, j, EH_CAUSE_BODY_TOO_LARGE, 413, "request body too large");
    return answer_local(s, j, j->cause, 503, "tenant over its concurrency limit");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    eh_srv *s = cls;
    eh_job *j = *ctx;
    *ctx = NULL;
    if (!j)
        return;
    uint64_t now = eh_srv_now();
    if (j->t_start) { /* headers were complete: count it */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && j->phase != J_ANSWERED) {
            int timed_out = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ||
                            (j->c && !j->c->waiting && j->phase == J_BODY);
            j->cause = timed_out ? EH_CAUSE_REQUEST_TIMEOUT : EH_CAUSE_CLIENT_ABORT;
            j->status = 0;
        }
        eh_stats_count(s, j, now);
        eh_log_access(s, j, now);
    }
    if (j->svc) {
        j->svc->inflight--;
        eh_pool_unref(j->svc->pool);
    }
    if (j->c && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        wait_start(s, j->c); /* kept alive: the next request is owed from now */
    job_free(j);
}

/* ---- control ---------------------------------------------------------------- */

static void install_routes(eh_srv *s, eh_routes *r)
{
    eh_routes *old = s->routes;
    r->installed = 1;
    s->routes = r;
    s->m->generation++;
    eh_routes_release(old);
}

static void begin_drain(eh_srv *s)
{
    if (s->draining)
        return;
    s->draining = 1;
    s->drain_start = eh_srv_now();
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd); /* our copy; the master keeps the port open */
    /* Connections idle since before the drain get the short allowance. */
}

static void handle_ctl(eh_srv *s)
{
    uint64_t v;
    ssize_t rd = read(s->ctl_fd, &v, sizeof v);
    (void)rd;
    pthread_mutex_lock(&s->ctl_lock);
    eh_routes *r = s->pending_routes;
    s->pending_routes = NULL;
    int drain = s->drain_requested;
    if (r) {
        install_routes(s, r);
        s->routes_done = s->routes_seq;
        pthread_cond_broadcast(&s->ctl_cond);
    }
    pthread_mutex_unlock(&s->ctl_lock);
    if (drain)
        begin_drain(s);
}

static void on_results(eh_srv *s)
{
    for (eh_job *j = eh_disp_take_done(s->disp), *next; j; j = next) {
        next = j->next;
        j->phase = J_DONE;
        s->jobs_out--;
        MHD_resume_connection(j->conn);
    }
}

static int drained(eh_srv *s, uint64_t now)
{
    if (!s->draining)
        return 0;
    if (s->jobs_out == 0 && s->nconns == 0)
        return 1;
    if (now - s->drain_start > (uint64_t)s->cfg.drain_timeout_ms * 1000000ull) {
        /* Out of time: close what is not waiting on a handler (those are
         * bounded by the tenants' deadlines and finish on their own). */
        for (eh_conn *c = s->waiting_head; c; c = c->next)
            if (c->fd >= 0)
                shutdown(c->fd, SHUT_RDWR);
        return s->jobs_out == 0 && s->nconns == 0;
    }
    return 0;
}

static void *loop_main(void *arg)
{
    eh_srv *s = arg;
    struct epoll_event evs[16];
    for (;;) {
        MHD_UNSIGNED_LONG_LONG to;
        int timeout = TICK_MS;
        if (MHD_get_timeout(s->mhd, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)timeout)
            timeout = (int)to;
        int n = epoll_wait(s->ep, evs, 16, timeout);
        for (int i = 0; i < n; i++) {
            switch (evs[i].data.u32) {
            case EV_DONE:
                on_results(s);
                break;
            case EV_CTL:
                handle_ctl(s);
                break;
            case EV_TICK: {
                uint64_t v;
                ssize_t rd = read(s->tick_fd, &v, sizeof v);
                (void)rd;
                reap(s, eh_srv_now());
                eh_stats_gauges(s);
                break;
            }
            default:
                break;
            }
        }
        MHD_run(s->mhd);
        eh_disp_flush(s->disp);
        if (s->alog_len)
            eh_log_flush(s);
        if (s->draining) {
            reap(s, eh_srv_now());
            if (drained(s, eh_srv_now()))
                break;
        }
    }
    eh_stats_gauges(s);
    __atomic_store_n(&s->stopped, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&s->ctl_lock);
    pthread_cond_broadcast(&s->ctl_cond);
    pthread_mutex_unlock(&s->ctl_lock);
    return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    eh_srv *s = cls;
    if (s->cfg.error_log_fd < 0)
        return;
    char msg[512], line[700];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    for (size_t i = 0; i < n; i++)
        if (msg[i] == '"' || msg[i] == '\\' || (unsigned char)msg[i] < 0x20)
            msg[i] = ' ';
    int len = snprintf(line, sizeof line,
                       "{\"level\":\"warn\",\"worker\":%u,\"cause\":\"http\",\"detail\":\"%s\"}\n",
                       s->cfg.worker, msg);
    if (len > 0) {
        ssize_t w = write(s->cfg.error_log_fd, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
        (void)w;
    }
}

/* ---- public ----------------------------------------------------------------- */

eh_srv *eh_srv_new(const eh_srv_config *cfg, char *err, size_t errlen)
{
    eh_srv *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.threads)
        s->cfg.threads = 4;
    if (!s->cfg.request_timeout_ms)
        s->cfg.request_timeout_ms = 10000;
    if (!s->cfg.drain_timeout_ms)
        s->cfg.drain_timeout_ms = 30000;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = 10000;
    if (!s->cfg.header_limit)
        s->cfg.header_limit = 16 << 10;
    s->m = cfg->stats;
    s->pid = (unsigned)getpid();
    s->ep = s->ctl_fd = s->tick_fd = -1;
    pthread_mutex_init(&s->ctl_lock, NULL);
    pthread_cond_init(&s->ctl_cond, NULL);
    pthread_mutex_init(&s->svc_lock, NULL);
    s->m->pid = s->pid;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->m->started_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    s->m->connections = 0;
    if (s->cfg.access_log_fd >= 0 && !(s->alog = malloc(s->alog_cap = 64 << 10)))
        goto fail_errno;
    if (!(s->disp = eh_disp_new(s, s->cfg.threads, !s->cfg.no_inline, err, errlen)))
        goto fail;
    /* The connection memory pool: see RESPONSE_HEAD_RESERVE. */
    unsigned timeout_s = (s->cfg.request_timeout_ms + 999) / 1000;
    s->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)cfg->listen_fd,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)s->cfg.max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)s->cfg.header_limit + RESPONSE_HEAD_RESERVE, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "libmicrohttpd refused to start on fd %d", cfg->listen_fd);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    s->ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!di || s->ep < 0 || s->ctl_fd < 0 || s->tick_fd < 0)
        goto fail_errno;
    struct itimerspec its = {{0, TICK_MS * 1000000L}, {0, TICK_MS * 1000000L}};
    struct { int fd; uint32_t tag; } watch[] = {
        {di->epoll_fd, EV_MHD}, {eh_disp_fd(s->disp), EV_DONE}, {s->ctl_fd, EV_CTL},
        {s->tick_fd, EV_TICK}};
    if (timerfd_settime(s->tick_fd, 0, &its, NULL) < 0)
        goto fail_errno;
    for (size_t i = 0; i < sizeof watch / sizeof watch[0]; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = watch[i].tag};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, watch[i].fd, &ev) < 0)
            goto fail_errno;
    }
    return s;
fail_errno:
    snprintf(err, errlen, "cannot set up the server: %s", strerror(errno));
fail:
    eh_srv_free(s);
    return NULL;
}

int eh_srv_start(eh_srv *s, char *err, size_t errlen)
{
    if (pthread_create(&s->loop, NULL, loop_main, s) != 0) {
        snprintf(err, errlen, "cannot start the loop thread");
        return -1;
    }
    s->loop_started = 1;
    pthread_setname_np(s->loop, "eh-http-loop");
    return 0;
}

static void kick(eh_srv *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->ctl_fd, &one, sizeof one);
    (void)w;
}

/* The CLOCK_REALTIME instant timeout_ms from now, normalised (tv_nsec <
 * 1e9), as pthread_cond_timedwait on ctl_cond expects. */
static struct timespec deadline_in(uint32_t timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

int eh_srv_set_routes(eh_srv *s, eh_routes *r, uint32_t timeout_ms)
{
    if (!s->loop_started) {
        install_routes(s, r);
        return 0;
    }
    struct timespec dl = deadline_in(timeout_ms);
    pthread_mutex_lock(&s->ctl_lock);
    if (s->pending_routes) /* never installed: superseded */
        eh_routes_release(s->pending_routes);
    s->pending_routes = r;
    uint64_t seq = ++s->routes_seq;
    kick(s);
    int rc = 0;
    while (s->routes_done < seq && !__atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE))
        if (pthread_cond_timedwait(&s->ctl_cond, &s->ctl_lock, &dl) == ETIMEDOUT) {
            rc = -1;
            break;
        }
    if (s->routes_done < seq && __atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE))
        rc = -1;
    pthread_mutex_unlock(&s->ctl_lock);
    return rc;
}

void eh_srv_drain(eh_srv *s)
{
    pthread_mutex_lock(&s->ctl_lock);
    s->drain_requested = 1;
    pthread_mutex_unlock(&s->ctl_lock);
    if (s->ctl_fd >= 0)
        kick(s);
}

int eh_srv_wait(eh_srv *s, uint32_t timeout_ms)
{
    if (!s->loop_started)
        return 0;
    struct timespec dl = deadline_in(timeout_ms);
    pthread_mutex_lock(&s->ctl_lock);
    while (!__atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE))
        if (pthread_cond_timedwait(&s->ctl_cond, &s->ctl_lock, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->ctl_lock);
    return __atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE) ? 0 : -1;
}

void eh_srv_stop(eh_srv *s)
{
    if (s->loop_started) {
        eh_srv_drain(s);
        pthread_join(s->loop, NULL);
        s->loop_started = 0;
    }
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    eh_disp_free(s->disp);
    s->disp = NULL;
    eh_routes_release(s->routes);
    eh_routes_release(s->pending_routes);
    s->routes = s->pending_routes = NULL;
}

void eh_srv_free(eh_srv *s)
{
    if (!s)
        return;
    eh_srv_stop(s);
    if (s->alog_len)
        eh_log_flush(s);
    free(s->alog);
    if (s->ep >= 0)
        close(s->ep);
    if (s->ctl_fd >= 0)
        close(s->ctl_fd);
    if (s->tick_fd >= 0)
        close(s->tick_fd);
    pthread_mutex_destroy(&s->ctl_lock);
    pthread_cond_destroy(&s->ctl_cond);
    pthread_mutex_destroy(&s->svc_lock);
    free(s);
}

/* ---- tenant versions ---------------------------------------------------------- */

eh_svc *eh_svc_new(eh_srv *s, eh_pool *pool, const char *name, uint64_t body_limit,
                   uint32_t max_running, uint32_t max_inflight, char *err, size_t errlen)
{
    eh_svc *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->pool = pool;
    v->srv = s;
    snprintf(v->name, sizeof v->name, "%s", name);
    v->body_limit = body_limit;
    v->mem_cap = eh_pool_tenant(pool)->limits.max_memory_bytes;
    uint32_t half = s->cfg.threads / 2 ? s->cfg.threads / 2 : 1;
    v->max_running = max_running ? max_running : half;
    v->max_inflight = max_inflight ? max_inflight : 1024;
    pthread_mutex_lock(&s->svc_lock);
    v->slot = eh_stats_slot(s, name);
    v->all_next = s->svcs;
    if (s->svcs)
        s->svcs->all_prev = v;
    s->svcs = v;
    pthread_mutex_unlock(&s->svc_lock);
    return v;
}

uint64_t eh_svc_users(eh_svc *v) { return eh_pool_users(v->pool); }
uint32_t eh_svc_slot(eh_svc *v) { return v->slot; }
void eh_svc_inherit(eh_svc *to, eh_svc *from) { eh_disp_inherit(to->srv->disp, to, from); }

void eh_svc_free(eh_svc *v)
{
    if (!v)
        return;
    eh_srv *s = v->srv;
    pthread_mutex_lock(&s->svc_lock);
    if (v->all_prev)
        v->all_prev->all_next = v->all_next;
    else
        s->svcs = v->all_next;
    if (v->all_next)
        v->all_next->all_prev = v->all_prev;
    pthread_mutex_unlock(&s->svc_lock);
    free(v);
}
