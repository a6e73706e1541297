/* The embedded store's operations: the kv_* data plane (get is a lookup in
 * this thread's snapshot and a copy; put/delete are one write transaction
 * each, value and counters together) and the operator's listings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state/kv_lmdb.h"

#define STORE(ns) ((lmdb_store *)(ns)->store)
#define KEYBUF 512 /* >= LMDB's key limit (511 in Debian's build) */

/* "<tenant>\0<key>" in buf; the caller guarantees klen <= store max_key. */
static MDB_val full_key(const eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *buf)
{
    memcpy(buf, ns->prefix, ns->prefix_len);
    memcpy(buf + ns->prefix_len, key, klen);
    return (MDB_val){ns->prefix_len + klen, buf};
}

static MDB_val counts_key(const eh_kv_ns *ns)
{
    return (MDB_val){ns->name_len, (void *)ns->name};
}

static tenant_counts read_counts(MDB_txn *txn, MDB_dbi dbi, const eh_kv_ns *ns)
{
    tenant_counts c = {0, 0};
    MDB_val k = counts_key(ns), v;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == sizeof c)
        memcpy(&c, v.mv_data, sizeof c);
    return c;
}

static int write_counts(MDB_txn *txn, MDB_dbi dbi, const eh_kv_ns *ns, tenant_counts c)
{
    MDB_val k = counts_key(ns), v = {sizeof c, &c};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* Commits w; for a sync namespace, also flushes to disk before returning. */
static int32_t commit(eh_kv_ns *ns, MDB_txn *w)
{
    lmdb_store *s = STORE(ns);
    int rc = mdb_txn_commit(w);
    if (rc)
        return eh_lmdb_fail(s, "commit", rc);
    if (ns->durable == EH_KV_DURABLE_SYNC && s->flush_ms) {
        rc = mdb_env_sync(s->env, 1);
        if (rc)
            return eh_lmdb_fail(s, "committed but not flushed to disk", rc);
        eh_lmdb_synced(s);
    }
    return 0;
}

/* Opens the write transaction of a put, delete or drop, with room reserved
 * for `payload` more bytes. 0 with *w open (to be committed or aborted by the
 * caller), or the error with nothing left open. */
static int32_t begin_write(lmdb_store *s, uint64_t payload, MDB_txn **w)
{
    eh_lmdb_reader_drop(s);
    int rc = mdb_txn_begin(s->env, NULL, 0, w);
    if (rc)
        return eh_lmdb_fail(s, "starting a write", rc);
    int32_t res = eh_lmdb_reserve(s, payload);
    if (res < 0)
        mdb_txn_abort(*w);
    return res;
}

/* Ends a put or delete whose change returned rc: on success stores the new
 * counters c and commits; on any failure (named `what`) aborts, so the value
 * and the counters never diverge. */
static int32_t finish_write(eh_kv_ns *ns, MDB_txn *w, int rc, tenant_counts c, const char *what)
{
    lmdb_store *s = STORE(ns);
    if (!rc)
        rc = write_counts(w, s->dbi, ns, c);
    if (rc) {
        int32_t res = eh_lmdb_fail(s, what, rc);
        mdb_txn_abort(w);
        return res;
    }
    return commit(ns, w);
}

/* Opens a control-plane read transaction: 0 with *r open, or the error. */
static int32_t begin_read(lmdb_store *s, MDB_txn **r)
{
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, r);
    return rc ? eh_lmdb_fail(s, "starting a read", rc) : 0;
}

int32_t eh_lmdb_get(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap)
{
    lmdb_store *s = STORE(ns);
    int temp;
    lmdb_local *r = eh_lmdb_reader(s, &temp);
    if (!r)
        return EH_ERR_UNAVAILABLE;
    uint8_t buf[KEYBUF];
    MDB_val k = full_key(ns, key, klen, buf), v;
    int rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET);
    int32_t res;
    if (rc == 0) {
        /* The value sits in the mapping, valid while the snapshot is held. */
        if (v.mv_size <= cap && v.mv_size)
            memcpy(out, v.mv_data, v.mv_size);
        res = (int32_t)v.mv_size; /* values are <= kv_max_value (< 2^31) */
    } else if (rc == MDB_NOTFOUND) {
        res = EH_ERR_NOT_FOUND;
    } else {
        res = eh_lmdb_fail(s, "read", rc);
    }
    if (temp)
        eh_lmdb_reader_done(r, temp);
    return res;
}

int32_t eh_lmdb_put(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                      uint32_t vlen)
{
    lmdb_store *s = STORE(ns);
    MDB_txn *w;
    int32_t res = begin_write(s, (uint64_t)klen + vlen, &w);
    if (res < 0)
        return res;
    uint8_t buf[KEYBUF];
    MDB_val k = full_key(ns, key, klen, buf), old;
    tenant_counts c = read_counts(w, s->dbi, ns);
    int rc = mdb_get(w, s->dbi, &k, &old);
    if (rc && rc != MDB_NOTFOUND) {
        res = eh_lmdb_fail(s, "read", rc);
        goto abort;
    }
    uint64_t old_bytes = rc ? 0 : klen + old.mv_size;
    if (c.bytes - old_bytes + klen + vlen > ns->max_bytes) {
        res = EH_ERR_QUOTA;
        goto abort;
    }
    c.bytes = c.bytes - old_bytes + klen + vlen;
    c.count += rc ? 1 : 0;
    MDB_val v = {vlen, (void *)val};
    return finish_write(ns, w, mdb_put(w, s->dbi, &k, &v, 0), c, "write");
abort:
    mdb_txn_abort(w);
    return res;
}

int32_t eh_lmdb_del(eh_kv_ns *ns, const uint8_t *key, uint32_t klen)
{
    lmdb_store *s = STORE(ns);
    MDB_txn *w;
    int32_t res = begin_write(s, 0, &w);
    if (res < 0)
        return res;
    uint8_t buf[KEYBUF];
    MDB_val k = full_key(ns, key, klen, buf), old;
    int rc = mdb_get(w, s->dbi, &k, &old);
    if (rc) {
        res = rc == MDB_NOTFOUND ? EH_ERR_NOT_FOUND : eh_lmdb_fail(s, "read", rc);
        mdb_txn_abort(w);
        return res;
    }
    tenant_counts c = read_counts(w, s->dbi, ns);
    c.bytes -= klen + old.mv_size;
    c.count -= 1;
    return finish_write(ns, w, mdb_del(w, s->dbi, &k, NULL), c, "delete");
}

int eh_lmdb_ns_init(eh_kv_ns *ns, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    memcpy(ns->prefix, ns->name, ns->name_len);
    ns->prefix[ns->name_len] = 0;
    ns->prefix_len = ns->name_len + 1;
    return 0;
}

void eh_lmdb_ns_fini(eh_kv_ns *ns) { (void)ns; }

/* ---- control plane: short read transactions of their own ----------------- */

int32_t eh_lmdb_stats(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes)
{
    lmdb_store *s = STORE(ns);
    MDB_txn *r;
    int32_t res = begin_read(s, &r);
    if (res < 0)
        return res;
    tenant_counts c = read_counts(r, s->dbi, ns);
    mdb_txn_abort(r);
    *count = c.count;
    *bytes = c.bytes;
    return 0;
}

/* Calls fn on every key of ns's range (cursor positioned by the caller's txn). */
static int32_t each_key(lmdb_store *s, MDB_txn *txn, const eh_kv_ns *ns,
                        int (*fn)(MDB_cursor *c, MDB_val *k, void *ctx), void *ctx)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc)
        return eh_lmdb_fail(s, "cursor", rc);
    MDB_val k = {ns->prefix_len, (void *)ns->prefix}, v;
    int32_t res = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < ns->prefix_len || memcmp(k.mv_data, ns->prefix, ns->prefix_len))
            break;
        if (fn(cur, &k, ctx) < 0) {
            res = -1;
            break;
        }
    }
    if (!res && rc && rc != MDB_NOTFOUND)
        res = eh_lmdb_fail(s, "listing", rc);
    mdb_cursor_close(cur);
    return res;
}

typedef struct {
    eh_kv_buf *out;
    uint32_t skip;
} keys_ctx;

static int add_key(MDB_cursor *c, MDB_val *k, void *ctx)
{
    (void)c;
    keys_ctx *kc = ctx;
    if (eh_kv_buf_add(kc->out, (uint8_t *)k->mv_data + kc->skip, (uint32_t)(k->mv_size - kc->skip)) < 0) {
        eh_kv_fail("out of memory");
        return -1;
    }
    return 0;
}

int32_t eh_lmdb_keys(eh_kv_ns *ns, eh_kv_buf *out)
{
    lmdb_store *s = STORE(ns);
    MDB_txn *r;
    int32_t res = begin_read(s, &r);
    if (res < 0)
        return res;
    keys_ctx kc = {out, ns->prefix_len};
    res = each_key(s, r, ns, add_key, &kc);
    mdb_txn_abort(r);
    return res < 0 ? EH_ERR_UNAVAILABLE : 0;
}

static int del_current(MDB_cursor *c, MDB_val *k, void *ctx)
{
    (void)k;
    int rc = mdb_cursor_del(c, 0);
    if (rc) {
        eh_lmdb_fail(ctx, "delete", rc);
        return -1;
    }
    return 0;
}

int32_t eh_lmdb_drop(eh_kv_ns *ns)
{
    lmdb_store *s = STORE(ns);
    MDB_txn *w;
    int32_t res = begin_write(s, 0, &w);
    if (res < 0)
        return res;
    if (each_key(s, w, ns, del_current, s) < 0)
        res = EH_ERR_UNAVAILABLE;
    if (res == 0) {
        MDB_val k = counts_key(ns);
        int rc = mdb_del(w, s->dbi, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            res = eh_lmdb_fail(s, "delete", rc);
    }
    if (res < 0) {
        mdb_txn_abort(w);
        return res;
    }
    int durable = ns->durable;
    ns->durable = EH_KV_DURABLE_SYNC; /* an operator's drop is on disk when it returns */
    res = commit(ns, w);
    ns->durable = durable;
    return res;
}

int32_t eh_lmdb_tenants(eh_kv_store *store, eh_kv_buf *out)
{
    lmdb_store *s = (lmdb_store *)store;
    MDB_txn *r;
    int32_t res = begin_read(s, &r);
    if (res < 0)
        return res;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(r, s->dbi, &cur);
    if (rc) {
        mdb_txn_abort(r);
        return eh_lmdb_fail(s, "cursor", rc);
    }
    MDB_val k, v;
    /* A tenant's counters key "<name>" sorts just before its keys
     * "<name>\0...": after each one, jump past "<name>\1". */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size == 0 || p[0] == 0 || memchr(p, 0, k.mv_size) || k.mv_size > EH_KV_NAME_MAX) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        if (eh_kv_buf_add(out, p, (uint32_t)k.mv_size) < 0) {
            res = eh_kv_fail("out of memory");
            break;
        }
        uint8_t next[EH_KV_NAME_MAX + 1];
        memcpy(next, p, k.mv_size);
        next[k.mv_size] = 1;
        k = (MDB_val){k.mv_size + 1, next};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    if (!res && rc && rc != MDB_NOTFOUND)
        res = eh_lmdb_fail(s, "listing", rc);
    mdb_cursor_close(cur);
    mdb_txn_abort(r);
    return res;
}
