/*
 * What the control plane (host/serving) calls in the HTTP server
 * (mirrored in ffi.cdef). See server.h for the threads and ownership.
 */
#ifndef EH_SERVING_FFI_H
#define EH_SERVING_FFI_H

#include <stddef.h>
#include <stdint.h>
#include "serving/metrics.h"
#include "wasmhost/hostapi.h"
#include "wasmhost/pool.h"

typedef struct eh_srv eh_srv;
typedef struct eh_svc eh_svc;
typedef struct eh_routes eh_routes;
typedef struct eh_disp eh_disp;

typedef struct eh_srv_config {
    int listen_fd;               /* a bound, listening socket the worker inherited */
    uint32_t threads;            /* handler threads per lane (dispatch.c)          */
    int no_inline;               /* never run tenant code on the loop thread       */
    uint32_t request_timeout_ms; /* to read one request (headers + body) and to
                                    wait for the next one on a kept-alive connection */
    uint32_t drain_timeout_ms;   /* after this, draining closes what is left       */
    uint32_t max_connections;
    uint32_t header_limit;       /* request line + headers, 64 B more per field; 431 */
    uint32_t worker;             /* index of this worker (its metrics slot)        */
    int error_log_fd;            /* JSON lines, one per error; -1: none            */
    int access_log_fd;           /* JSON lines, one per request; -1: none          */
    eh_srv_worker_stats *stats;  /* this worker's slot in the shared metrics file */
} eh_srv_config;

eh_srv *eh_srv_new(const eh_srv_config *cfg, char *err, size_t errlen);
/* Starts the loop and handler threads. */
int eh_srv_start(eh_srv *s, char *err, size_t errlen);
/* Installs a route table (the loop thread swaps it between requests and
 * releases the old one); waits up to timeout_ms for the swap. 0 or -1. The
 * server owns r from now on. */
int eh_srv_set_routes(eh_srv *s, eh_routes *r, uint32_t timeout_ms);
/* Stop accepting; requests in flight finish; idle connections close. */
void eh_srv_drain(eh_srv *s);
/* 0 once the loop thread has stopped (drained), -1 on timeout. */
int eh_srv_wait(eh_srv *s, uint32_t timeout_ms);
/* Stops the threads (draining first if needed, bounded by drain_timeout_ms)
 * and releases the route tables: then no version is in use by the server. */
void eh_srv_stop(eh_srv *s);
/* Stops, then frees the server; free its versions (eh_svc_free) before. */
void eh_srv_free(eh_srv *s);

/* A tenant version to serve (its pool stays owned by the caller, who frees it
 * after eh_svc_free). max_running 0 = half the threads (at least 1). */
eh_svc *eh_svc_new(eh_srv *s, eh_pool *pool, const char *name, uint64_t body_limit,
                   uint32_t max_running, uint32_t max_inflight, char *err, size_t errlen);
/* Requests and route tables still using the version (0: it may be freed). */
uint64_t eh_svc_users(eh_svc *v);
void eh_svc_free(eh_svc *v);
uint32_t eh_svc_slot(eh_svc *v);
/* `to`, the snapshot form of the version `from` serves (the same module,
 * started from its configured state), takes over the share of from's calls
 * that the tenant failed (the slow lane's failure rule) and the loop
 * thread's verdicts on it (dispatch.c, eh_disp_inherit) before it is
 * routed. */
void eh_svc_inherit(eh_svc *to, eh_svc *from);

eh_routes *eh_routes_new(void);
/* host "" matches any Host; path is the full path (prefix included); strip
 * = how many leading bytes of it the handler does not see. -1: duplicate. */
int eh_routes_add(eh_routes *r, const char *host, const char *path, uint32_t strip, eh_svc *svc,
                  uint32_t handler);
void eh_routes_free(eh_routes *r);

#endif
