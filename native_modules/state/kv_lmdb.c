/* The embedded store's environment: open, close, the flusher thread, each
 * thread's read transaction, and disk reservation (see kv_lmdb.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "state/ffi.h"
#include "state/kv_lmdb.h"

#define READER_CHECK_NS 1000000000LL /* clear slots of dead processes every second */

int32_t eh_lmdb_fail(lmdb_store *s, const char *what, int rc)
{
    if (rc == MDB_MAP_FULL)
        return eh_kv_fail("%s: store full (its map size is reached)", s->base.desc);
    return eh_kv_fail("%s: %s: %s", s->base.desc, what, mdb_strerror(rc));
}

/* ---- disk reservation ---------------------------------------------------- */

int32_t eh_lmdb_reserve(lmdb_store *s, uint64_t payload)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    /* Pages a transaction may touch past the last committed page: the value's
     * overflow pages, copies of a root-to-leaf path with splits, free-list pages. */
    uint64_t need = ((uint64_t)info.me_last_pgno + 1 + 64 + 2 * (payload / s->psize + 1)) * s->psize;
    if (need <= s->alloc_end)
        return 0;
    uint64_t end = need + ALLOC_STEP;
    if (end > info.me_mapsize)
        end = info.me_mapsize; /* past it, LMDB itself answers MDB_MAP_FULL */
    if (need > end)
        need = end;
    if (end <= s->alloc_end)
        return 0;
    /* A step ahead if the disk has it, else just what this write needs. */
    for (uint64_t want = end;; want = need) {
        if (fallocate(s->fd, 0, (off_t)s->alloc_end, (off_t)(want - s->alloc_end)) == 0 ||
            errno == EOPNOTSUPP) {
            s->alloc_end = want;
            return 0;
        }
        if (errno != ENOSPC || want == need)
            return eh_kv_fail("%s: reserving disk space: %s", s->base.desc, strerror(errno));
    }
}

/* ---- each thread's read transaction ------------------------------------- */

static void snap_release(eh_kv_snapshot *snap)
{
    lmdb_local *r = (lmdb_local *)((char *)snap - offsetof(lmdb_local, snap));
    if (r->active) {
        mdb_txn_reset(r->txn);
        r->active = 0;
    }
    r->held = 0;
}

static void lmdb_local_release(eh_kv_local *l)
{
    lmdb_local *r = (lmdb_local *)l;
    if (r->cur)
        mdb_cursor_close(r->cur);
    if (r->txn)
        mdb_txn_abort(r->txn);
    r->cur = NULL;
    r->txn = NULL;
    r->active = 0;
}

lmdb_local *eh_lmdb_reader(lmdb_store *s, int *temp)
{
    *temp = 0;
    lmdb_local *r = (lmdb_local *)eh_kv_local_find(&s->base);
    int rc;
    if (r) {
        if (r->active) {
            MDB_envinfo info;
            mdb_env_info(s->env, &info);
            if (info.me_last_txnid == r->txnid)
                return r; /* the snapshot is the newest commit */
            mdb_txn_reset(r->txn);
            r->active = 0;
        }
        rc = mdb_txn_renew(r->txn);
        if (!rc && (rc = mdb_cursor_renew(r->txn, r->cur)))
            mdb_txn_reset(r->txn);
        if (rc) {
            eh_lmdb_fail(s, "starting a read", rc);
            return NULL;
        }
    } else {
        r = calloc(1, sizeof *r);
        if (!r) {
            eh_kv_fail("out of memory");
            return NULL;
        }
        r->snap.release = snap_release;
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
        if (!rc && (rc = mdb_cursor_open(r->txn, s->dbi, &r->cur)))
            mdb_txn_abort(r->txn);
        if (rc) {
            free(r);
            eh_lmdb_fail(s, "starting a read", rc);
            return NULL;
        }
        if (eh_kv_local_add(&s->base, &r->head) < 0)
            *temp = 1;
    }
    r->active = 1;
    r->txnid = mdb_txn_id(r->txn);
    if (!*temp && !r->held) {
        if (eh_kv_snapshot_hold(&r->snap) == 0)
            r->held = 1;
        else
            *temp = 2;
    }
    return r;
}

void eh_lmdb_reader_done(lmdb_local *r, int temp)
{
    if (temp == 1) {
        lmdb_local_release(&r->head);
        free(r);
    } else if (temp == 2) {
        snap_release(&r->snap);
    }
}

void eh_lmdb_reader_drop(lmdb_store *s)
{
    lmdb_local *r = (lmdb_local *)eh_kv_local_find(&s->base);
    if (r && r->active) {
        mdb_txn_reset(r->txn);
        r->active = 0;
    }
}

/* ---- flushing ----------------------------------------------------------- */

static void flush_if_moved(lmdb_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    if (info.me_last_txnid == s->synced_txnid)
        return;
    int rc = mdb_env_sync(s->env, 1);
    pthread_mutex_lock(&s->err_lock);
    if (rc)
        snprintf(s->flush_error, sizeof s->flush_error, "flushing to disk: %s", mdb_strerror(rc));
    else
        s->flush_error[0] = 0;
    pthread_mutex_unlock(&s->err_lock);
    if (!rc) {
        s->synced_txnid = info.me_last_txnid;
        eh_lmdb_synced(s);
    }
}

void eh_lmdb_synced(lmdb_store *s) { __atomic_add_fetch(&s->base.syncs, 1, __ATOMIC_RELAXED); }

static void *flusher_main(void *arg)
{
    lmdb_store *s = arg;
    uint32_t period_ms = s->flush_ms ? s->flush_ms : 1000;
    int64_t last_check = eh_kv_now_ns();
    pthread_mutex_lock(&s->flush_lock);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(period_ms % 1000) * 1000000L;
        ts.tv_sec += period_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->flush_cond, &s->flush_lock, &ts);
        pthread_mutex_unlock(&s->flush_lock);
        if (s->flush_ms)
            flush_if_moved(s);
        int64_t now = eh_kv_now_ns();
        if (now - last_check >= READER_CHECK_NS) {
            int dead;
            mdb_reader_check(s->env, &dead); /* a killed worker's snapshot pins nothing */
            last_check = now;
        }
        pthread_mutex_lock(&s->flush_lock);
    }
    pthread_mutex_unlock(&s->flush_lock);
    return NULL;
}

static int lmdb_health(eh_kv_store *store, char *out, size_t cap)
{
    lmdb_store *s = (lmdb_store *)store;
    pthread_mutex_lock(&s->err_lock);
    int bad = s->flush_error[0] != 0;
    snprintf(out, cap, "%s", s->flush_error);
    pthread_mutex_unlock(&s->err_lock);
    return bad;
}

static void lmdb_close(eh_kv_store *store);
static void lmdb_abandon(eh_kv_store *store);
static int lmdb_health(eh_kv_store *store, char *out, size_t cap);

static uint64_t lmdb_file_used(eh_kv_store *store)
{
    lmdb_store *s = (lmdb_store *)store;
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    return ((uint64_t)info.me_last_pgno + 1) * s->psize;
}

const eh_kv_backend eh_lmdb_backend = {
    .name = "lmdb",
    .get = eh_lmdb_get,
    .put = eh_lmdb_put,
    .del = eh_lmdb_del,
    .ns_init = eh_lmdb_ns_init,
    .ns_fini = eh_lmdb_ns_fini,
    .stats = eh_lmdb_stats,
    .keys = eh_lmdb_keys,
    .drop = eh_lmdb_drop,
    .tenants = eh_lmdb_tenants,
    .close = lmdb_close,
    .abandon = lmdb_abandon,
    .local_release = lmdb_local_release,
    .health = lmdb_health,
    .file_used = lmdb_file_used,
};

/* ---- open / close --------------------------------------------------------- */

static void free_store(lmdb_store *s)
{
    if (s->env)
        mdb_env_close(s->env);
    pthread_mutex_destroy(&s->flush_lock);
    pthread_cond_destroy(&s->flush_cond);
    pthread_mutex_destroy(&s->err_lock);
    free(s);
}

static void lmdb_close(eh_kv_store *store)
{
    lmdb_store *s = (lmdb_store *)store;
    if (s->has_flusher) {
        pthread_mutex_lock(&s->flush_lock);
        s->stopping = 1;
        pthread_cond_signal(&s->flush_cond);
        pthread_mutex_unlock(&s->flush_lock);
        pthread_join(s->flusher, NULL);
    }
    if (s->flush_ms)
        flush_if_moved(s); /* what this process committed reaches the disk on close */
    eh_kv_locals_close(store);
    free_store(s);
}

static void lmdb_abandon(eh_kv_store *store)
{
    /* A forked child: the environment, its reader slots and the flusher
     * belong to the parent (mdb_env_close here would clear the parent's
     * reader slots). Only our struct goes; the mapping stays until exit. */
    free(store);
}

/* Key order: LMDB's default (bytes as unsigned, then the shorter first),
 * without glibc's memcmp. Its AVX-512 form compares keys under 32 bytes
 * with 32-byte masked loads, and where the mask reaches into a page that is
 * not mapped -- LMDB keeps a leaf's nodes at the end of its page, and the
 * next page of the map may lie past the data file's end -- every compare
 * takes a microcode assist: kv_get 16 B at ~220 ns instead of ~40 on the
 * Zen 5 (AMD EPYC family 26 model 2), in the processes whose store put the
 * key there (perf: 75 % of the time on that one masked compare). Reads here
 * stay inside both keys. The order is the default one, so stores written
 * before keep their order. */
static int key_cmp(const MDB_val *a, const MDB_val *b)
{
    const uint8_t *p = a->mv_data, *q = b->mv_data;
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        memcpy(&y, q + i, 8);
        if (x != y) /* the first differing byte decides: compare big-endian */
            return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
    }
    for (; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* Checks (or, in an empty store, writes) the format record. */
static int check_format(lmdb_store *s, const char *dir, char *err, size_t errlen)
{
    MDB_txn *w;
    int rc = mdb_txn_begin(s->env, NULL, 0, &w);
    if (!rc)
        rc = mdb_dbi_open(w, NULL, 0, &s->dbi);
    if (!rc)
        rc = mdb_set_compare(w, s->dbi, key_cmp); /* before any read or write */
    if (rc) {
        snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
        return -1;
    }
    if (eh_lmdb_reserve(s, 0) < 0) { /* even the first write must not meet a hole */
        mdb_txn_abort(w);
        snprintf(err, errlen, "%s", eh_kv_last_error());
        return -1;
    }
    MDB_val k = {FORMAT_KEY_LEN, (void *)FORMAT_KEY}, v;
    rc = mdb_get(w, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(w, s->dbi, &st);
        if (st.ms_entries) {
            mdb_txn_abort(w);
            snprintf(err, errlen, "%s holds an LMDB database that is not an edgehost kv store",
                     dir);
            return -1;
        }
        MDB_val fv = {1, (void *)FORMAT_VALUE};
        rc = mdb_put(w, s->dbi, &k, &fv, 0);
        if (!rc)
            rc = mdb_txn_commit(w);
        else
            mdb_txn_abort(w);
        if (!rc)
            rc = mdb_env_sync(s->env, 1);
        if (rc) {
            snprintf(err, errlen, "%s: creating the store: %s", dir, mdb_strerror(rc));
            return -1;
        }
        return 0;
    }
    int ok = !rc && v.mv_size == 1 && !memcmp(v.mv_data, FORMAT_VALUE, 1);
    mdb_txn_abort(w);
    if (!ok) {
        snprintf(err, errlen, "%s: unknown kv store format (this edgehost reads format %s)", dir,
                 FORMAT_VALUE);
        return -1;
    }
    return 0;
}

eh_kv_store *eh_kv_open_lmdb(const char *dir, uint64_t map_size, uint32_t flush_ms, char *err,
                             size_t errlen)
{
    lmdb_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    eh_kv_store_init(&s->base, &eh_lmdb_backend, 0);
    snprintf(s->base.desc, sizeof s->base.desc, "lmdb:%s", dir);
    s->flush_ms = flush_ms;
    pthread_mutex_init(&s->err_lock, NULL);
    pthread_mutex_init(&s->flush_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->flush_cond, &ca);
    pthread_condattr_destroy(&ca);

    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxreaders(s->env, 1022); /* threads of all processes on the machine */
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    /* Only a new store gets the map size: every process must map an existing
     * one at the size recorded in it (with MDB_WRITEMAP each opener truncates
     * the file to its map size). */
    if (!rc && stat(path, &st) < 0)
        rc = mdb_env_set_mapsize(s->env, (size_t)map_size);
    unsigned flags = MDB_NOTLS | MDB_WRITEMAP | MDB_NORDAHEAD | (flush_ms ? MDB_NOSYNC : 0);
    if (!rc)
        rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc) {
        snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    int dead;
    mdb_reader_check(s->env, &dead);
    mdb_env_get_fd(s->env, &s->fd);
    MDB_stat ms;
    mdb_env_stat(s->env, &ms);
    s->psize = ms.ms_psize;
    if (check_format(s, dir, err, errlen) < 0)
        goto fail;
    s->base.max_key = (uint32_t)mdb_env_get_maxkeysize(s->env) - PREFIX_MAX;
    if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
        snprintf(err, errlen, "%s: cannot start the flusher thread", dir);
        goto fail;
    }
    s->has_flusher = 1;
    pthread_setname_np(s->flusher, "eh-kv-flush");
    return &s->base;
fail:
    free_store(s);
    return NULL;
}
