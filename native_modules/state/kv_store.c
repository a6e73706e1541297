/* What every backend shares: reference counts, namespaces, the fork guard,
 * this thread's error text and read snapshots, and the control-plane entry
 * points Python calls (state/ffi.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "state/ffi.h"
#include "state/kv.h"

uint64_t eh_kv_fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static uint64_t next_store_id = 1;

/* ---- per-thread state of each store (see eh_kv_local in kv.h) ----------- */

#define MAX_LOCALS 8
static pthread_mutex_t locals_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key; /* its destructor frees this thread's locals */
static __thread struct {
    uint64_t store_id;
    eh_kv_local *l;
} tls_locals[MAX_LOCALS];
static __thread unsigned tls_nlocals;

static void unlink_local(eh_kv_local *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        l->store->locals = l->next;
    if (l->next)
        l->next->prev = l->prev;
}

static void on_thread_exit(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&locals_lock);
    for (unsigned i = 0; i < tls_nlocals; i++) {
        eh_kv_local *l = tls_locals[i].l;
        if (l->store && !eh_kv_forked(l->store)) {
            unlink_local(l);
            l->store->be->local_release(l);
        }
        free(l);
    }
    tls_nlocals = 0;
    pthread_mutex_unlock(&locals_lock);
}

eh_kv_local *eh_kv_local_find(const eh_kv_store *s)
{
    for (unsigned i = 0; i < tls_nlocals; i++)
        if (tls_locals[i].store_id == s->id)
            return tls_locals[i].l;
    return NULL;
}

int eh_kv_local_add(eh_kv_store *s, eh_kv_local *l)
{
    int rc = -1;
    pthread_mutex_lock(&locals_lock);
    unsigned i = 0;
    while (i < tls_nlocals && tls_locals[i].l->store) /* a dead slot (store closed) is reused */
        i++;
    if (i < tls_nlocals)
        free(tls_locals[i].l);
    if (i < MAX_LOCALS) {
        tls_locals[i].store_id = s->id;
        tls_locals[i].l = l;
        if (i == tls_nlocals)
            tls_nlocals++;
        l->store = s;
        l->prev = NULL;
        l->next = s->locals;
        if (s->locals)
            s->locals->prev = l;
        s->locals = l;
        rc = 0;
    }
    pthread_mutex_unlock(&locals_lock);
    if (rc == 0)
        pthread_setspecific(exit_key, (void *)1); /* any non-NULL value runs the destructor */
    return rc;
}

void eh_kv_locals_close(eh_kv_store *s)
{
    pthread_mutex_lock(&locals_lock);
    for (eh_kv_local *l = s->locals, *nx; l; l = nx) {
        nx = l->next;
        s->be->local_release(l);
        l->store = NULL; /* its thread frees the struct */
    }
    s->locals = NULL;
    pthread_mutex_unlock(&locals_lock);
}

static void on_fork_child(void)
{
    /* The child has only the forking thread; whatever it held belongs to
     * stores it must not touch any more (their locals are left alone). */
    __atomic_add_fetch(&eh_kv_fork_gen, 1, __ATOMIC_RELAXED);
    eh_kv_tls_nsnaps = 0;
    tls_nlocals = 0;
    pthread_mutex_init(&locals_lock, NULL);
}

static void install_process_hooks(void)
{
    pthread_key_create(&exit_key, on_thread_exit);
    pthread_atfork(NULL, NULL, on_fork_child);
}

void eh_kv_store_init(eh_kv_store *s, const eh_kv_backend *be, uint32_t max_key)
{
    pthread_once(&fork_once, install_process_hooks);
    s->id = __atomic_fetch_add(&next_store_id, 1, __ATOMIC_RELAXED);
    s->be = be;
    s->refs = 1;
    s->fork_gen = __atomic_load_n(&eh_kv_fork_gen, __ATOMIC_RELAXED);
    s->max_key = max_key;
}

int64_t eh_kv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- this thread's last failure ------------------------------------------ */

static __thread char tls_error[256];

int32_t eh_kv_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    return EH_ERR_UNAVAILABLE;
}

const char *eh_kv_last_error(void) { return tls_error; }

/* ---- read snapshots held until the end of a host call --------------------- */

#define MAX_SNAPS 4
__thread unsigned eh_kv_tls_nsnaps;
static __thread eh_kv_snapshot *tls_snaps[MAX_SNAPS];

int eh_kv_snapshot_hold(eh_kv_snapshot *snap)
{
    if (eh_kv_tls_nsnaps == MAX_SNAPS)
        return -1;
    tls_snaps[eh_kv_tls_nsnaps++] = snap;
    return 0;
}

void eh_kv_release_snapshots_slow(void)
{
    while (eh_kv_tls_nsnaps) {
        eh_kv_snapshot *s = tls_snaps[--eh_kv_tls_nsnaps];
        s->release(s);
    }
}

/* ---- listings ----------------------------------------------------------- */

int eh_kv_buf_add(eh_kv_buf *b, const void *p, uint32_t n)
{
    uint64_t need = b->len + 4 + n;
    if (need > b->cap) {
        uint64_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    uint8_t *w = b->data + b->len;
    w[0] = (uint8_t)n;
    w[1] = (uint8_t)(n >> 8);
    w[2] = (uint8_t)(n >> 16);
    w[3] = (uint8_t)(n >> 24);
    memcpy(w + 4, p, n);
    b->len = need;
    return 0;
}

void eh_kv_free(void *p) { free(p); }

/* ---- stores and namespaces --------------------------------------------- */

void eh_kv_store_retain(eh_kv_store *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void eh_kv_store_release(eh_kv_store *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
        return;
    if (eh_kv_forked(s))
        s->be->abandon(s);
    else
        s->be->close(s);
}

const char *eh_kv_store_describe(eh_kv_store *s) { return s->desc; }
const char *eh_kv_store_backend(eh_kv_store *s) { return s->be->name; }
uint32_t eh_kv_store_max_key(eh_kv_store *s) { return s->max_key; }
uint64_t eh_kv_store_syncs(eh_kv_store *s) { return __atomic_load_n(&s->syncs, __ATOMIC_RELAXED); }

uint64_t eh_kv_store_file_used(eh_kv_store *s)
{
    return s->be->file_used && !eh_kv_forked(s) ? s->be->file_used(s) : 0;
}

int eh_kv_store_health(eh_kv_store *s, char *out, size_t cap)
{
    if (cap)
        out[0] = 0;
    if (eh_kv_forked(s)) {
        snprintf(out, cap, "opened before this process forked");
        return 1;
    }
    return s->be->health ? s->be->health(s, out, cap) : 0;
}

eh_kv_ns *eh_kv_ns_open(eh_kv_store *s, const char *tenant, uint64_t max_bytes, int durable,
                        char *err, size_t errlen)
{
    size_t n = strlen(tenant);
    if (n == 0 || n > EH_KV_NAME_MAX || memchr(tenant, ':', n) || memchr(tenant, '{', n) ||
        memchr(tenant, '}', n)) {
        snprintf(err, errlen, "bad tenant name for a kv namespace: %.80s", tenant);
        return NULL;
    }
    if (durable != EH_KV_DURABLE_BATCH && durable != EH_KV_DURABLE_SYNC) {
        snprintf(err, errlen, "bad durability %d", durable);
        return NULL;
    }
    if (eh_kv_forked(s)) {
        snprintf(err, errlen, "%s was opened before this process forked; open it again here",
                 s->desc);
        return NULL;
    }
    eh_kv_ns *ns = calloc(1, sizeof *ns);
    if (!ns) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ns->refs = 1;
    ns->durable = durable;
    ns->max_bytes = max_bytes;
    ns->name_len = (uint32_t)n;
    memcpy(ns->name, tenant, n);
    ns->store = s;
    eh_kv_store_retain(s);
    if (s->be->ns_init(ns, err, errlen) < 0) {
        eh_kv_store_release(s);
        free(ns);
        return NULL;
    }
    return ns;
}

void eh_kv_ns_retain(eh_kv_ns *ns) { __atomic_add_fetch(&ns->refs, 1, __ATOMIC_RELAXED); }

void eh_kv_ns_release(eh_kv_ns *ns)
{
    if (!ns || __atomic_sub_fetch(&ns->refs, 1, __ATOMIC_ACQ_REL))
        return;
    eh_kv_store *s = ns->store;
    if (!eh_kv_forked(s))
        s->be->ns_fini(ns);
    free(ns);
    eh_kv_store_release(s);
}

/* Control-plane operations: the same backend calls as the imports, then the
 * snapshot they took is released at once (there is no host call to end). */
#define GUARD(ns)                                                                          \
    do {                                                                                   \
        if (eh_kv_forked((ns)->store))                                                     \
            return eh_kv_fail("%s was opened before this process forked", (ns)->store->desc); \
    } while (0)

int32_t eh_kv_ns_get(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap)
{
    GUARD(ns);
    int32_t rc = ns->store->be->get(ns, key, klen, out, cap);
    eh_kv_release_snapshots();
    return rc;
}

int32_t eh_kv_ns_put(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                     uint32_t vlen)
{
    GUARD(ns);
    int32_t rc = ns->store->be->put(ns, key, klen, val, vlen);
    eh_kv_release_snapshots();
    return rc;
}

int32_t eh_kv_ns_delete(eh_kv_ns *ns, const uint8_t *key, uint32_t klen)
{
    GUARD(ns);
    int32_t rc = ns->store->be->del(ns, key, klen);
    eh_kv_release_snapshots();
    return rc;
}

int32_t eh_kv_ns_stats(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes)
{
    *count = *bytes = 0;
    GUARD(ns);
    return ns->store->be->stats(ns, count, bytes);
}

static int32_t listing(int32_t rc, eh_kv_buf *b, uint8_t **out, uint64_t *len)
{
    if (rc < 0) {
        free(b->data);
        *out = NULL;
        *len = 0;
        return rc;
    }
    *out = b->data;
    *len = b->len;
    return rc;
}

int32_t eh_kv_ns_keys(eh_kv_ns *ns, uint8_t **out, uint64_t *len)
{
    eh_kv_buf b = {0};
    *out = NULL;
    *len = 0;
    GUARD(ns);
    return listing(ns->store->be->keys(ns, &b), &b, out, len);
}

int32_t eh_kv_ns_drop(eh_kv_ns *ns)
{
    GUARD(ns);
    return ns->store->be->drop(ns);
}

int32_t eh_kv_store_tenants(eh_kv_store *s, uint8_t **out, uint64_t *len)
{
    eh_kv_buf b = {0};
    *out = NULL;
    *len = 0;
    if (eh_kv_forked(s))
        return eh_kv_fail("%s was opened before this process forked", s->desc);
    return listing(s->be->tenants(s, &b), &b, out, len);
}
