/*
 * Counters of the HTTP server, in a file the master process created and
 * every worker maps (one eh_srv_worker_stats slot per worker). The master
 * sums the slots at scrape time (host/serving/metrics.py); Python reads this
 * layout through cffi, so it is declared here only.
 *
 * Writers: the worker's event-loop thread writes every request counter
 * (one writer: plain 64-bit stores, no locks, no atomics on the request
 * path); its control plane writes the guest_* fields. Readers may see a
 * counter a few requests old, never a torn one (aligned 8-byte stores).
 * A replacement worker keeps its slot's counters, so totals stay monotonic.
 */
#ifndef EH_SERVING_METRICS_H
#define EH_SERVING_METRICS_H

#include <stdint.h>

#define EH_SRV_SHM_MAGIC 0x3176726573686565ull /* "eehserv1" */
#define EH_SRV_MAX_TENANTS 128   /* names per worker slot; slot 0 = unrouted requests */
#define EH_SRV_CODES 16          /* distinct status codes counted per tenant */
#define EH_SRV_BUCKETS 17        /* latency histogram: 16 bounds + overflow  */

/* Why a request did not get its tenant's own answer (errors by cause). */
enum eh_srv_cause {
    EH_CAUSE_NOT_FOUND = 0,      /* 404: no route for host + path              */
    EH_CAUSE_BODY_TOO_LARGE,     /* 413: body over the tenant's limit          */
    EH_CAUSE_OVERLOAD,           /* 503: tenant over its in-flight cap         */
    EH_CAUSE_INSTANTIATE,        /* 503: no instance (instantiate/configure)   */
    EH_CAUSE_TRAP,               /* 500: the handler trapped                   */
    EH_CAUSE_DEADLINE,           /* 504: the handler ran past deadline_ms      */
    EH_CAUSE_MEMORY,             /* 500: linear memory at its cap              */
    EH_CAUSE_FUEL,               /* 500: fuel exhausted                        */
    EH_CAUSE_GUEST_FAULT,        /* 502: the tenant's KVM guest faulted        */
    EH_CAUSE_GUEST_TIMEOUT,      /* 504: a kernel ran past the guest's limit   */
    EH_CAUSE_TENANT_STATUS,      /* 500: the handler returned a non-zero status */
    EH_CAUSE_REQUEST_TIMEOUT,    /* connection closed: request not read in time */
    EH_CAUSE_CLIENT_ABORT,       /* the client went away before the response   */
    EH_CAUSE_INTERNAL,           /* 500: the server itself failed (memory)     */
    EH_CAUSE_STORE,              /* 503: the tenant's kv store was unavailable */
    EH_CAUSE_SHARE,              /* 503: tenant at its limits.instances share  */
    EH_CAUSE_SLOTS,              /* 503: every instance slot of the worker busy */
    EH_CAUSE_HEADERS_TOO_LARGE,  /* 431: request line + headers over the limit */
    EH_CAUSE_COUNT
};

typedef struct eh_srv_tenant_stats {
    char name[64];                  /* "" = free slot (slot 0: unrouted)          */
    uint64_t requests;              /* completed requests                          */
    uint64_t code[EH_SRV_CODES];    /* status code counted in slot i (0 = free)    */
    uint64_t code_count[EH_SRV_CODES];
    uint64_t errors[EH_CAUSE_COUNT];
    uint64_t latency[EH_SRV_BUCKETS]; /* per bucket (not cumulative)               */
    uint64_t latency_sum_ns;
    uint64_t hostcalls;             /* edgehost.* imports that touched memory      */
    uint64_t offload_calls;         /* kernel calls (crc32c import + offload)      */
    uint64_t offload_ns;            /* time in those calls (the guest, for kvm)    */
    uint64_t slow_lane;             /* requests run on a lower-priority lane ...   */
    uint64_t idle_lane;             /* ... of them on the idle one (SCHED_IDLE)   */
    uint64_t inline_requests;       /* ... on the loop thread, with no hand-off    */
    uint64_t inline_preempted;      /* ... stopped there at the budget, then queued */
    /* gauges, refreshed by the loop thread every tick: */
    uint64_t pool_live, pool_idle, pool_created, pool_discarded, memory_bytes;
    uint64_t inflight, running;
    /* written by the worker's control plane from its guest's counters: */
    uint64_t guest_calls, guest_creates, guest_resets, guest_faults, guest_timeouts;
} eh_srv_tenant_stats;

typedef struct eh_srv_worker_stats {
    uint64_t pid;
    uint64_t started_ns;            /* CLOCK_REALTIME                              */
    uint64_t generation;            /* route tables installed                     */
    uint64_t connections;           /* open now                                    */
    uint64_t accepted;              /* connections ever                            */
    uint64_t reaped;                /* closed by the request timeout               */
    uint64_t queued;                /* jobs waiting for a handler thread now       */
    uint64_t ntenants;              /* slots in use                                */
    /* the worker's instance slots (wasmhost/slots.h), written by its control
     * plane: capacity, instances alive, idle ones evicted, ones refused */
    uint64_t slots, slots_live, slots_evicted, slots_refused;
    eh_srv_tenant_stats tenant[EH_SRV_MAX_TENANTS];
} eh_srv_worker_stats;

typedef struct eh_srv_shm {
    uint64_t magic;
    uint64_t nworkers;
    eh_srv_worker_stats worker[];
} eh_srv_shm;

/* Upper bounds of the latency buckets in ns (the last is +Inf: UINT64_MAX). */
extern const uint64_t eh_srv_bucket_ns[EH_SRV_BUCKETS];
/* Label of each cause, e.g. "guest_fault". */
extern const char *const eh_srv_cause_names[EH_CAUSE_COUNT];

#endif
