/*
 * The HTTP server's internals, shared by its translation units only.
 *
 * Threads (one worker process):
 *  - the loop thread runs libmicrohttpd in "external epoll" mode: it parses,
 *    routes, reads bodies, enforces limits and timeouts, and sends
 *    responses. It runs tenant code only for versions proven fast, under a
 *    budget past which the call is preempted (dispatch.c, "Inline").
 *  - handler threads (dispatch.c) run tenant handlers from per-tenant queues
 *    (a tenant holds at most max_running of them) and hand results back
 *    through an eventfd, in batches.
 *  - the control plane (Python) builds tenant versions and route tables and
 *    hands them over with eh_srv_set_routes (swapped on the loop thread).
 *
 * A request's eh_job is owned by the loop thread except while it is queued
 * or running (then by the dispatcher); its connection is suspended
 * meanwhile, so MHD never touches it concurrently.
 */
#ifndef EH_SERVING_SERVER_H
#define EH_SERVING_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include "serving/ffi.h"
#include "serving/metrics.h"
#include "wasmhost/pool.h"

typedef struct eh_conn eh_conn;
typedef struct eh_job eh_job;

/* A tenant version as served: its instance pool plus scheduling state. */
struct eh_svc {
    eh_pool *pool;
    eh_srv *srv;
    char name[64];
    uint32_t slot;             /* its eh_srv_tenant_stats in the worker's slot   */
    uint64_t body_limit;       /* bytes; larger bodies get 413                   */
    uint64_t mem_cap;          /* the tenant's linear-memory cap (bytes)         */
    uint32_t max_running;      /* handler threads it may hold at once            */
    uint32_t max_inflight;     /* requests routed and not yet answered; over: 503 */
    uint32_t inflight;         /* loop thread only                               */
    /* guarded by the dispatcher's lock: */
    eh_job *q_head, *q_tail;
    uint32_t queued, running;
    int in_ready;
    eh_svc *ready_next;
    uint64_t avg_ns;           /* moving average of a handler call (wall)        */
    uint64_t cpu_avg_ns;       /* ... of its CPU time, over CPU-timed calls      */
    uint32_t slow_share;       /* ... of those over SLOW_CPU_NS (1 = 65536)      */
    uint32_t fail_share;       /* ... of its calls the tenant failed (all calls) */
    uint64_t hog_at_ns;        /* held slow from here: a second call over        */
                               /* HOG_CPU_NS within SLOW_HOLD_NS (dispatch.c)    */
    uint64_t hog_seen_ns;      /* the last call over HOG_CPU_NS                   */
    uint32_t suspect_left;     /* fast-lane calls still to be CPU-timed          */
    uint32_t fast_streak;      /* fast, sound threaded calls in a row (inline)   */
    uint32_t inline_strikes;   /* inline calls preempted (each doubles the streak) */
    int inline_barred;         /* never inline again (dispatch.c)                */
    eh_svc *all_next, *all_prev; /* srv->svcs (guarded by srv->svc_lock)         */
};

typedef struct eh_route {
    char *key;                 /* host "\n" path                                  */
    uint32_t key_len;
    uint32_t strip;            /* prefix bytes the handler does not see           */
    eh_svc *svc;
    uint32_t handler;
} eh_route;

struct eh_routes {
    eh_route *slots;           /* open addressing, power of two                   */
    uint32_t nslots, count;
    int installed;
};

enum eh_job_phase { J_HEADERS, J_BODY, J_QUEUED, J_DONE, J_ANSWERED };

/* The handler threads' lanes, in falling priority (dispatch.c). */
enum eh_lane_kind { EH_LANE_FAST, EH_LANE_SLOW, EH_LANE_IDLE, EH_LANES };

struct eh_job {
    eh_job *next;
    eh_srv *srv;
    struct MHD_Connection *conn;
    eh_conn *c;
    int phase;
    eh_svc *svc;               /* referenced (eh_pool_ref) while set             */
    uint32_t handler;
    uint64_t t_start;          /* headers complete (monotonic ns)                */
    char id[32];
    /* request as the handler sees it: method, path, query, headers, body */
    char *uri;                 /* raw request target                             */
    const char *method;
    uint32_t method_len;
    uint32_t path_off, path_len, query_off, query_len;
    uint8_t *hdrs;
    uint32_t hdrs_len, hdrs_cap;
    uint64_t head_bytes;       /* what counts against header_limit (server.c)    */
    uint8_t *body;
    uint64_t body_len, body_cap, body_limit, discarded;
    /* result */
    int status;                /* HTTP status queued (0: none)                    */
    int cause;                 /* EH_CAUSE_* or -1                                */
    struct MHD_Response *resp;
    uint64_t resp_bytes;
    uint64_t hostcalls, offload_calls, offload_ns;
    int lane;                  /* EH_LANE_*: where its handler ran (dispatch.c)  */
    int inlined;               /* ... on the loop thread itself                   */
    int preempted;             /* an inline run was preempted; then it was queued */
    uint64_t overran_cpu_ns;   /* CPU it used past the inline budget, after an effect */
};

struct eh_srv {
    eh_srv_config cfg;
    struct MHD_Daemon *mhd;
    int ep, ctl_fd, tick_fd;
    pthread_t loop;
    int loop_started;
    _Atomic int stopped;       /* the loop thread has finished                   */
    eh_routes *routes;         /* loop thread only                                */
    eh_srv_worker_stats *m;
    eh_disp *disp;
    /* control requests (guarded by ctl_lock) */
    pthread_mutex_t ctl_lock;
    pthread_cond_t ctl_cond;
    eh_routes *pending_routes;
    uint64_t routes_seq, routes_done;
    int drain_requested;
    /* loop thread state */
    int draining;
    uint64_t drain_start;
    uint64_t jobs_out;         /* queued or running                               */
    eh_conn *waiting_head, *waiting_tail; /* connections owed a request, by age   */
    uint64_t nconns;
    uint64_t req_seq;
    unsigned pid;
    char *alog;                /* access log buffer (flushed every iteration)     */
    size_t alog_len, alog_cap;
    /* tenant versions alive (for the gauges) */
    pthread_mutex_t svc_lock;
    eh_svc *svcs;
};

/* Per connection: where it stands against the request timeout. */
struct eh_conn {
    eh_conn *prev, *next;      /* in srv->waiting_* while it owes a request       */
    int waiting;
    int fd;
    uint64_t since;            /* monotonic ns the wait began                     */
};

uint64_t eh_srv_now(void);

/* routes.c */
const eh_route *eh_routes_find(const eh_routes *r, const char *host, size_t host_len,
                               const char *path, size_t path_len);
void eh_routes_release(eh_routes *r);

/* dispatch.c */
eh_disp *eh_disp_new(eh_srv *s, uint32_t threads, int inline_on, char *err, size_t errlen);
void eh_disp_free(eh_disp *d);
/* Loop thread: runs j now if its version may run inline; 1 = answered
 * (j->resp, status, cause set), 0 = not run or preempted: submit it. */
int eh_disp_run_inline(eh_disp *d, eh_job *j);
void eh_disp_submit(eh_disp *d, eh_job *j);     /* loop thread              */
void eh_disp_flush(eh_disp *d);                 /* loop thread, per round   */
eh_job *eh_disp_take_done(eh_disp *d);          /* loop thread              */
int eh_disp_fd(eh_disp *d);
uint64_t eh_disp_queued(eh_disp *d);
void eh_disp_inherit(eh_disp *d, eh_svc *to, const eh_svc *from);

/* respond.c */
struct MHD_Response *eh_error_response(eh_job *j, int status, const char *reason);
void eh_log_error(eh_srv *s, const eh_job *j, const char *tenant, int cause, int status,
                  const char *detail);
void eh_log_access(eh_srv *s, const eh_job *j, uint64_t now);
void eh_log_flush(eh_srv *s);

/* stats.c */
void eh_stats_count(eh_srv *s, const eh_job *j, uint64_t now);
uint32_t eh_stats_slot(eh_srv *s, const char *name);
void eh_stats_gauges(eh_srv *s);

#endif
