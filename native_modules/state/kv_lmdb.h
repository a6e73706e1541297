/*
 * The embedded store: one LMDB environment (DIR/data.mdb + DIR/lock.mdb),
 * opened by every process of the host on this machine.
 *
 * Layout of the environment's main database:
 *   "\0edgehost-kv"       -> format version (FORMAT_VALUE)
 *   "<tenant>"            -> the tenant's counters: u64 count, u64 bytes (host order)
 *   "<tenant>\0<key>"     -> the tenant's value for key
 * Tenant names contain no NUL, so the prefixes never overlap and one
 * tenant's keys are one contiguous range. A put or delete changes the value
 * and the counters in ONE write transaction, so the quota (bytes = keys +
 * values) holds across every process writing at once.
 *
 * Durability (flush_ms > 0, the default): the environment runs with
 * MDB_NOSYNC | MDB_WRITEMAP, so a commit is a write into the shared mapping
 * -- visible to every process at once and kept by the page cache when a
 * process dies -- and a flusher thread per process calls mdb_env_sync when
 * the last committed transaction moved, at most every flush_ms. A namespace
 * with EH_KV_DURABLE_SYNC syncs after each of its commits. flush_ms == 0
 * opens the environment in LMDB's fully synced mode (every commit).
 *
 * Reads: each thread keeps one read transaction and a cursor on it (an
 * eh_kv_local); a get renews them only when mdb_env_info shows a newer
 * committed transaction (a lock-free read of the meta page), so a get is a
 * cursor positioning -- which skips the descent from the root when the key
 * is on the leaf page the cursor is on -- and a copy.
 * The snapshot is released at the end of each host call.
 *
 * Full disk: with MDB_WRITEMAP a write into a hole of the sparse data file
 * would raise SIGBUS when the disk is full, so every write transaction first
 * makes sure the file blocks it may touch are allocated (fallocate, in
 * steps of ALLOC_STEP); ENOSPC there fails the put with EH_ERR_UNAVAILABLE.
 */
#ifndef EH_STATE_KV_LMDB_H
#define EH_STATE_KV_LMDB_H

#include <lmdb.h>
#include "state/kv.h"

#define FORMAT_KEY "\0edgehost-kv"
#define FORMAT_KEY_LEN 12
#define FORMAT_VALUE "1"
#define ALLOC_STEP (16ull << 20)
/* Prefix "<tenant>\0" (<= 64 bytes) + the tenant key must fit LMDB's key limit. */
#define PREFIX_MAX (EH_KV_NAME_MAX + 1)

typedef struct lmdb_store {
    eh_kv_store base;
    MDB_env *env;
    MDB_dbi dbi;
    int fd;                  /* the data file (for fallocate)                      */
    size_t psize;            /* LMDB page size                                     */
    uint64_t alloc_end;      /* bytes of the data file known allocated; written     */
                             /*   only inside a write transaction (LMDB's lock)     */
    uint32_t flush_ms;
    pthread_t flusher;
    int has_flusher;
    pthread_mutex_t flush_lock;
    pthread_cond_t flush_cond;
    int stopping;            /* under flush_lock */
    size_t synced_txnid;     /* flusher thread only */
    pthread_mutex_t err_lock;
    char flush_error[200];   /* last flush failure, "" when the last flush worked */
} lmdb_store;

/* A thread's read transaction on one store. */
typedef struct lmdb_local {
    eh_kv_local head;
    eh_kv_snapshot snap;     /* registered while a host call holds the snapshot */
    MDB_txn *txn;
    MDB_cursor *cur;         /* on txn, renewed with it */
    size_t txnid;            /* the snapshot's transaction id */
    int active;              /* txn holds a snapshot (else it is reset)  */
    int held;                /* snap is in this thread's snapshot list   */
} lmdb_local;

typedef struct tenant_counts {
    uint64_t count, bytes;
} tenant_counts;

extern const eh_kv_backend eh_lmdb_backend;
/* The operations (kv_lmdb_ops.c), as in eh_kv_backend. */
int32_t eh_lmdb_get(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap);
int32_t eh_lmdb_put(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                    uint32_t vlen);
int32_t eh_lmdb_del(eh_kv_ns *ns, const uint8_t *key, uint32_t klen);
int eh_lmdb_ns_init(eh_kv_ns *ns, char *err, size_t errlen);
void eh_lmdb_ns_fini(eh_kv_ns *ns);
int32_t eh_lmdb_stats(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes);
int32_t eh_lmdb_keys(eh_kv_ns *ns, eh_kv_buf *out);
int32_t eh_lmdb_drop(eh_kv_ns *ns);
int32_t eh_lmdb_tenants(eh_kv_store *s, eh_kv_buf *out);
int32_t eh_lmdb_fail(lmdb_store *s, const char *what, int rc);
/* Ensures the blocks a transaction writing `payload` bytes may touch exist. */
int32_t eh_lmdb_reserve(lmdb_store *s, uint64_t payload);
/* This thread's read transaction, renewed if a newer commit exists; NULL on
 * failure (reason recorded). *temp: release it right after use. */
lmdb_local *eh_lmdb_reader(lmdb_store *s, int *temp);
void eh_lmdb_reader_done(lmdb_local *r, int temp);
/* Drops this thread's snapshot before it writes (a writer must not pin it). */
void eh_lmdb_reader_drop(lmdb_store *s);
void eh_lmdb_synced(lmdb_store *s);

#endif
