/*
 * The host API data plane: tenants, instances and the edgehost.* imports.
 *
 * Ownership and threading:
 *  - eh_tenant is shared by all instances of one tenant; its log ring and
 *    counters are guarded by tenant->lock; its kv namespace (state/kv.h)
 *    is set before the first call and synchronises itself. Config values, limits,
 *    allowed kernels and the offload sink are set before the first call and
 *    are read-only afterwards.
 *  - eh_instance owns one wasmtime store; it is used by one thread at a time
 *    (the Python pool hands it out exclusively). Calls release the GIL.
 *  - Every (ptr, len) a tenant passes is checked against the current size of
 *    its linear memory, with 64-bit arithmetic so ptr+len cannot wrap; a bad
 *    range traps the call with a message naming the import.
 */
#ifndef EH_HOSTAPI_H
#define EH_HOSTAPI_H

#include <pthread.h>
#include <stdint.h>
#include "eh_offload.h"
#include "eh_offload_sink.h"
#include "wasmhost/wasmtime_c.h"

/* The import results (enum eh_abi_error), EH_LOG_MSG_MAX, EH_RESP_HEADERS_MAX and
 * the import table EH_ABI_IMPORTS come from eh_abi.h, generated from
 * wasm_config/abi.py (included through eh_offload.h). */

/* The door to the tenant's kernels (its KVM guest, or this process) is the
 * typed offload sink of include/eh_offload_sink.h. */
#define EH_LOG_RING 256

typedef struct eh_log_entry {
    int64_t wall_ns;
    int32_t level;
    uint32_t len;
    char msg[EH_LOG_MSG_MAX];
} eh_log_entry;

typedef struct eh_kv_ns eh_kv_ns; /* state/kv.h */

typedef struct eh_limits {
    uint64_t max_memory_bytes;  /* linear memory cap per instance (0 = engine default)   */
    uint64_t deadline_ns;       /* wall time per call, CLOCK_MONOTONIC (0 = no deadline) */
    uint64_t fuel;              /* fuel per call (0 = not metered)                       */
    uint64_t kv_max_bytes;      /* keys + values, whole tenant                           */
    uint32_t kv_max_key;        /* bytes                                                 */
    uint32_t kv_max_value;      /* bytes                                                 */
    uint32_t log_per_sec;       /* token-bucket rate of log lines                        */
    uint32_t log_burst;
    uint32_t max_instances;     /* instances alive at once, in use or idle, in this      */
                                /* process (its share of the engine's slots; 0 = none)   */
} eh_limits;

typedef struct eh_slots eh_slots; /* wasmhost/slots.h */
typedef struct eh_fresh_image eh_fresh_image; /* wasmhost/fresh.c */

/* Write tracking (fresh.c, host/reload/write_tracking.py): one dirty-map
 * byte per page of this many address bits. */
#define EH_DIRTY_PAGE_SHIFT 12

typedef struct eh_tenant {
    char name[64];
    wasm_engine_t *engine;
    wasmtime_linker_t *linker;
    wasmtime_instance_pre_t *pre;
    eh_limits limits;
    uint64_t allowed_kernels;  /* bit i set: EH_KERNEL id i may be offloaded              */
    const eh_offload_sink *sink; /* runs its kernels: &eh_vm_sink or &eh_inproc_sink      */
    eh_vm *vm;                 /* the tenant's guest (eh_vm_sink), else NULL               */
    /* config: msgpack-encoded values by key, sorted by key */
    uint32_t config_count;
    char **config_keys;
    uint32_t *config_key_lens;
    uint8_t **config_vals;
    uint32_t *config_val_lens;
    eh_kv_ns *kv;              /* the tenant's kv namespace (a reference), NULL: none     */
    eh_slots *slots;           /* its engine's instance slots (wasmhost/slots.h)          */
    _Atomic uint32_t instances; /* its instances alive now (limits.max_instances caps it) */
    _Atomic uint32_t pins;     /* evictions freeing one of its instances (slots.c):    */
                               /* eh_tenant_free waits for them                          */
    /* Its latest request made kernel calls (any instance; a hint, racy by
     * design): its next request and its next new instance prewarm the sink
     * (instance.c). 0 for a new version until one of its requests does. */
    _Atomic int kernels_last;
    /* A snapshot module's input buffer (set before instances are made; 0 =
     * none): its instances start with it, as if edgehost_alloc(cap) had run. */
    uint32_t input_ptr, input_cap;
    /* instance = "fresh" on a write-tracking module: the state its used
     * instances are put back to (fresh.c; NULL: a new instance each time) */
    eh_fresh_image *fresh;

    pthread_mutex_t lock;      /* guards everything below                                 */
    eh_log_entry log[EH_LOG_RING];
    uint64_t log_head;         /* entries written (ring index = head % EH_LOG_RING)      */
    uint64_t log_dropped;      /* rate-limited or overwritten before being drained       */
    uint64_t log_tail;         /* entries drained                                          */
    uint64_t log_dropped_seen; /* log_dropped at the last drain                             */
    double log_tokens;
    int64_t log_refill_ns;
} eh_tenant;

/* Per-call request context and response, owned by the instance. */
typedef struct eh_request {
    const char *method; uint32_t method_len;
    const char *path; uint32_t path_len;
    const char *query; uint32_t query_len;
    const uint8_t *headers; uint32_t headers_len; /* msgpack map str->str */
    const uint8_t *body; uint32_t body_len;
} eh_request;

typedef struct eh_response {
    int32_t status;
    uint32_t body_ptr, body_len;      /* range in linear memory, checked when set */
    int has_body;
    uint32_t headers_len;             /* msgpack-free "name\0value\0" pairs        */
    uint32_t header_count;
    char headers[EH_RESP_HEADERS_MAX];
} eh_response;

typedef struct eh_instance {
    eh_tenant *tenant;
    wasmtime_store_t *store;
    wasmtime_context_t *ctx;
    wasmtime_instance_t instance;
    wasmtime_memory_t memory;
    int memory_ready;                 /* set once instantiation has resolved memory */
    wasmtime_func_t alloc_fn;
    uint32_t nexports, exports_cap;   /* resolved exports, by index (grows: no limit) */
    wasmtime_func_t *exports;
    char **export_names;
    eh_request req;
    eh_response resp;
    uint32_t input_ptr, input_cap;    /* the tenant's edgehost_alloc buffer      */
    int trap_kind;                    /* enum eh_trap_kind of the last failure  */
    /* The running call's deadline (eh_now_mono_ns() scale, 0 = none). The epoch
     * ticker only wakes the check: the store's epoch callback compares the
     * clock with this on every tick, so a deadline holds in wall time
     * however late the ticks come (within one tick of the ticker's wakeup);
     * kernel calls get what is left of it (hostapi_offload.c). */
    uint64_t deadline_at_ns;
    uint64_t deadline_stop_ns;        /* when the check stopped the last call    */
    int deadline_hit;                 /* the last failure was the deadline      */
    /* Preemption, for a caller that can run the call again elsewhere (the
     * HTTP server's loop thread, serving/dispatch.c): set before a call, the
     * call is stopped at the first tick past preempt_at_ns (eh_now_mono_ns()
     * scale; 0 = never) if it has made no effect outside the instance yet
     * (effects == 0), and `preempted` says so: nothing the call did is
     * visible, so running it again from the start is safe. A call past an
     * effect runs on: `overran` is set and overran_cpu_ns holds the thread's
     * CPU clock at that tick. arm_limits() clears effects and both flags. */
    uint64_t preempt_at_ns;
    uint32_t effects;                 /* kv_put, kv_delete, log calls so far    */
    int preempted, overran;
    uint64_t overran_cpu_ns;
    int import_trap_kind;             /* an import's trap is of this kind (0: trap) */
    const eh_offload_sink *attached_sink; /* the sink shown this instance's memory, */
    eh_vm *attached_vm;               /*   told on free (copied: the tenant may go  */
    const void *attached_mem;         /*   first), the memory base and length it    */
    uint64_t attached_len;            /*   was shown (hostapi_offload.c)            */
    /* Counters the HTTP server reads after each call (this thread only): */
    uint64_t hostcalls;               /* imports that resolved the caller's memory */
    uint64_t offload_calls, offload_ns; /* kernel calls and their time            */
    int offload_fail;                 /* last kernel call's EH_OFFLOAD_* failure, 0 */
    uint64_t pool_memory;             /* linear memory its pool last counted      */
    int holds_slot;                   /* counted in its tenant's share and engine's slots */
    /* Write tracking (fresh.c): the dirty map, one byte per page of linear
     * memory (NULL: not tracked), the mutable globals to reset. */
    uint8_t *dirty;
    wasmtime_global_t *fresh_globals;
    uint8_t *fresh_kinds;
    int restore_pending;              /* eh_fresh_restore() must run before any code */
    char error[512];
} eh_instance;

enum eh_trap_kind {
    EH_TRAP_NONE = 0,
    EH_TRAP_TRAP = 1,
    EH_TRAP_DEADLINE = 2,
    EH_TRAP_FUEL = 3,
    EH_TRAP_MEMORY = 4,
    EH_TRAP_ERROR = 5,
    EH_TRAP_STORE = 6, /* the kv store was unavailable during the call */
    /* Why no instance could be made (eh_instance_new, eh_pool_acquire): */
    EH_TRAP_INSTANCES = 7, /* the tenant holds limits.max_instances already, all busy */
    EH_TRAP_SLOTS = 8,     /* every slot of the engine's pooling allocator is busy  */
    EH_TRAP_REFUSED = 9,   /* edgehost_configure returned non-zero                  */
    EH_TRAP_CLOSED = 10,   /* the pool was retired meanwhile, and this was its last */
                           /* instance out: the caller finishes the retirement      */
};

/* Import table: defined in registry.c, one row per edgehost.* import. */
typedef struct eh_import_def {
    const char *name;
    const char *params;   /* "i" = i32, "I" = i64, one char per parameter   */
    const char *results;  /* "" or one char                                  */
    wasmtime_func_unchecked_callback_t cb;
} eh_import_def;

extern const eh_import_def eh_imports[];
extern const uint32_t eh_imports_count;

/* Checked access to the caller's linear memory (NULL => trap already made). */
typedef struct eh_mem {
    eh_instance *inst;
    uint8_t *base;
    uint64_t size;
} eh_mem;

eh_mem eh_caller_mem(wasmtime_caller_t *caller);
/* Returns a host pointer for [ptr, ptr+len) or NULL if out of bounds. */
static inline uint8_t *eh_mem_range(const eh_mem *m, uint32_t ptr, uint32_t len)
{
    /* no memory yet (a start function runs before it is resolved): nothing
     * is in range, not even an empty range at 0 (NULL + 0 is undefined) */
    if (!m->base || (uint64_t)ptr + (uint64_t)len > m->size)
        return NULL;
    return m->base + ptr;
}
wasm_trap_t *eh_trap_range(const char *import, uint32_t ptr, uint32_t len, uint64_t size);
wasm_trap_t *eh_trap_msg(const char *fmt, ...);

/* Marks [ptr, ptr+len) written in a tracked instance's dirty map: every
 * host write into linear memory goes through this (fresh.c). */
void eh_fresh_mark_slow(eh_instance *inst, uint32_t ptr, uint64_t len);
static inline void eh_fresh_mark(eh_instance *inst, uint32_t ptr, uint64_t len)
{
    if (inst->dirty && len)
        eh_fresh_mark_slow(inst, ptr, len);
}
void eh_fresh_bind(eh_instance *inst);
void eh_fresh_unbind(eh_instance *inst);
void eh_fresh_image_free(eh_fresh_image *img);
/* At release -- 0: inst goes back to its image's state (its pages at the
 * next use, eh_fresh_restore); -1: it must be replaced. */
int eh_fresh_reset(eh_instance *inst);
void eh_fresh_restore(eh_instance *inst, uint64_t keep_lo, uint64_t keep_hi);

/* Copies src into [out, out+cap) if it fits; returns the full length either way. */
int32_t eh_copy_out(const eh_mem *m, uint32_t out, uint32_t cap, const void *src, uint32_t len);

int64_t eh_now_mono_ns(void);
int64_t eh_now_wall_ns(void);
/* CPU time of the calling thread: a system call (~0.6 us under PVM), so
 * for rare paths and samples only. */
uint64_t eh_thread_cpu_ns(void);

void eh_kv_free_all(eh_tenant *t); /* releases the tenant's kv namespace */
/* At the end of every call into an instance: releases the call's kv read
 * snapshot; -1 (inst->error, EH_TRAP_STORE set) if the store failed in it. */
int eh_kv_call_end(eh_instance *inst);

#endif
