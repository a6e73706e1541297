/*
 * The tenant key-value store: one interface, three backends.
 *
 *   lmdb    the embedded default: one LMDB environment per data directory,
 *           shared by every process on the machine (kv_lmdb*.c)
 *   redis   a Redis/Valkey server, for state shared across machines (kv_redis*.c)
 *   memory  a map in this process, gone with it (kv_memory.c; tests, benchmarks)
 *
 * A store (eh_kv_store) is opened once per process and configuration and is
 * shared by all tenants; a namespace (eh_kv_ns) is one tenant's view of it,
 * keyed by the tenant's NAME (so a reloaded version of a tenant finds its
 * state) and carrying its quota and durability. Both are reference counted:
 * a tenant holds its namespace, a namespace holds its store, so they can be
 * released in any order.
 *
 * Data-plane operations return the edgehost ABI codes (wasmhost/hostapi.h):
 * a length >= 0, EH_ERR_NOT_FOUND, EH_ERR_QUOTA, or EH_ERR_UNAVAILABLE when
 * the store cannot serve (server down, disk full, store opened before a
 * fork); for UNAVAILABLE the reason is in eh_kv_last_error() on this thread.
 * Key and value sizes are checked by the caller (hostapi_kv.c) before a
 * backend sees them.
 */
#ifndef EH_STATE_KV_H
#define EH_STATE_KV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "wasmhost/hostapi.h"

/* Durability of a namespace's writes (mirrored by lib.EH_KV_DURABLE_* in Python). */
enum eh_kv_durable {
    EH_KV_DURABLE_BATCH = 0, /* committed at once; on disk within the store's flush interval */
    EH_KV_DURABLE_SYNC = 1,  /* on disk before kv_put / kv_delete return                      */
};

typedef struct eh_kv_store eh_kv_store;
typedef struct eh_kv_ns eh_kv_ns;
typedef struct eh_kv_local eh_kv_local;

/* A growable byte buffer for control-plane listings: records of
 * [u32 little-endian length][bytes]; freed with eh_kv_free(data). */
typedef struct eh_kv_buf {
    uint8_t *data;
    uint64_t len, cap;
} eh_kv_buf;
int eh_kv_buf_add(eh_kv_buf *b, const void *p, uint32_t n);

typedef struct eh_kv_backend {
    const char *name;
    /* data plane: the hot path of the kv_* imports */
    int32_t (*get)(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap);
    int32_t (*put)(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                   uint32_t vlen);
    int32_t (*del)(eh_kv_ns *ns, const uint8_t *key, uint32_t klen);
    /* control plane */
    int (*ns_init)(eh_kv_ns *ns, char *err, size_t errlen);
    void (*ns_fini)(eh_kv_ns *ns);
    int32_t (*stats)(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes);
    int32_t (*keys)(eh_kv_ns *ns, eh_kv_buf *out);
    int32_t (*drop)(eh_kv_ns *ns);
    int32_t (*tenants)(eh_kv_store *s, eh_kv_buf *out);
    void (*close)(eh_kv_store *s);   /* last reference gone: free everything */
    void (*abandon)(eh_kv_store *s); /* same, in a forked child: touch no shared state */
    /* Frees what a thread's eh_kv_local holds in the backend (a read
     * transaction, a connection), not the struct itself. */
    void (*local_release)(eh_kv_local *l);
    /* 0, or 1 with the last background failure (a flush, a connection) in out. */
    int (*health)(eh_kv_store *s, char *out, size_t cap);
    /* Bytes of the store's file in use (NULL: not a file). */
    uint64_t (*file_used)(eh_kv_store *s);
} eh_kv_backend;

/* The common head of every backend's store struct. */
struct eh_kv_store {
    const eh_kv_backend *be;
    uint64_t id;             /* unique in this process, never reused */
    int refs;                /* atomic */
    eh_kv_local *locals;     /* every thread's state for this store (under the locals lock) */
    uint64_t fork_gen;       /* eh_kv_fork_gen when opened: usable only while equal */
    uint32_t max_key;        /* longest tenant key this backend can hold          */
    uint64_t syncs;          /* atomic: flushes to disk done by this process       */
    char desc[256];          /* "lmdb:/path/kv", "redis://host:port/db", "memory"  */
};

struct eh_kv_ns {
    eh_kv_store *store;
    int refs;                /* atomic */
    int durable;             /* enum eh_kv_durable */
    uint64_t max_bytes;      /* quota: keys + values of the whole tenant, all processes */
    uint32_t name_len;
    char name[64];
    uint32_t prefix_len;     /* backend key prefix that makes this namespace */
    uint8_t prefix[96];
    void *be_data;           /* backend-specific (memory: the tenant's map) */
};

/* Tenant names are at most this long (wasm_config/manifest.py NAME_RE). */
#define EH_KV_NAME_MAX 63

/* Bumped in a forked child: a store opened before the fork is unusable there. */
extern uint64_t eh_kv_fork_gen;
void eh_kv_store_init(eh_kv_store *s, const eh_kv_backend *be, uint32_t max_key);

static inline int eh_kv_forked(const eh_kv_store *s)
{
    return __builtin_expect(s->fork_gen != __atomic_load_n(&eh_kv_fork_gen, __ATOMIC_RELAXED), 0);
}

/* Records why this thread's last operation returned EH_ERR_UNAVAILABLE. */
int32_t eh_kv_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *eh_kv_last_error(void);

/* Read snapshots (LMDB read transactions) held by this thread. A snapshot is
 * taken by the first read of a host call and released when the call ends
 * (eh_kv_release_snapshots), so an idle thread never pins old pages. */
typedef struct eh_kv_snapshot eh_kv_snapshot;
struct eh_kv_snapshot {
    void (*release)(eh_kv_snapshot *snap);
};
/* 0: held until the end of the call; -1: no room, release it after this use. */
int eh_kv_snapshot_hold(eh_kv_snapshot *snap);
void eh_kv_release_snapshots_slow(void);
extern __thread unsigned eh_kv_tls_nsnaps;
static inline void eh_kv_release_snapshots(void)
{
    if (eh_kv_tls_nsnaps)
        eh_kv_release_snapshots_slow();
}

/* Per-thread state for one store (an LMDB read transaction, a Redis
 * connection): the head of a backend struct allocated with malloc. The
 * THREAD owns it (it is freed when the thread exits); the store only links
 * to it, and on close releases its backend part and marks it dead
 * (store = NULL), under one process-wide lock. */
struct eh_kv_local {
    eh_kv_store *store;      /* NULL once the store is closed */
    eh_kv_local *next, *prev;
};
/* This thread's state for s, or NULL. */
eh_kv_local *eh_kv_local_find(const eh_kv_store *s);
/* Registers l (store set by the caller) as this thread's state for s.
 * -1: this thread already tracks too many stores; the caller releases l
 * after the current operation. */
int eh_kv_local_add(eh_kv_store *s, eh_kv_local *l);
/* At store close: release every thread's state for s. */
void eh_kv_locals_close(eh_kv_store *s);

/* Monotonic clock in ns (for timeouts and backoff). */
int64_t eh_kv_now_ns(void);

/* The backend constructors are declared once, in state/ffi.h (Python calls
 * them); each backend's .c includes it. */

#endif
