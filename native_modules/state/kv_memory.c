/* The "memory" backend: one hash map per tenant name in this process (so a
 * reloaded tenant finds its state), gone when the process exits. Not shared
 * between processes: for tests, benchmarks and throw-away runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state/ffi.h"

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    uint32_t klen, vlen;
    uint8_t data[]; /* key bytes, then value bytes */
} entry;

typedef struct tenant_map {
    struct tenant_map *next;
    char name[EH_KV_NAME_MAX + 1];
    pthread_mutex_t lock; /* guards everything below */
    entry **buckets;
    uint32_t nbuckets;
    uint64_t bytes, count;
} tenant_map;

typedef struct mem_store {
    eh_kv_store base;
    pthread_mutex_t lock; /* guards the list */
    tenant_map *maps;
} mem_store;

static uint64_t fnv1a(const uint8_t *p, uint32_t n)
{
    uint64_t h = 1469598103934665603ull;
    while (n--)
        h = (h ^ *p++) * 1099511628211ull;
    return h;
}

static entry **find(tenant_map *m, const uint8_t *key, uint32_t klen, uint64_t h)
{
    entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && !memcmp((*pp)->data, key, klen))
            return pp;
    return pp;
}

static int grow(tenant_map *m)
{
    uint32_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
    entry **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (uint32_t i = 0; i < m->nbuckets; i++) {
        for (entry *e = m->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return 0;
}

static void clear(tenant_map *m)
{
    for (uint32_t i = 0; i < m->nbuckets; i++)
        for (entry *e = m->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->bytes = m->count = 0;
}

static int32_t mem_get(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap)
{
    tenant_map *m = ns->be_data;
    int32_t rc = EH_ERR_NOT_FOUND;
    pthread_mutex_lock(&m->lock);
    if (m->nbuckets) {
        entry *e = *find(m, key, klen, fnv1a(key, klen));
        if (e) {
            if (e->vlen <= cap && e->vlen)
                memcpy(out, e->data + e->klen, e->vlen);
            rc = (int32_t)e->vlen;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int32_t mem_put(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                       uint32_t vlen)
{
    tenant_map *m = ns->be_data;
    int32_t rc = 0;
    pthread_mutex_lock(&m->lock);
    if (!m->nbuckets && grow(m) < 0) {
        rc = eh_kv_fail("out of memory");
        goto out;
    }
    uint64_t h = fnv1a(key, klen);
    entry **pp = find(m, key, klen, h);
    uint64_t old = *pp ? (uint64_t)(*pp)->klen + (*pp)->vlen : 0;
    if (m->bytes - old + klen + vlen > ns->max_bytes) {
        rc = EH_ERR_QUOTA;
        goto out;
    }
    entry *e = malloc(sizeof *e + klen + vlen);
    if (!e) {
        rc = eh_kv_fail("out of memory");
        goto out;
    }
    e->hash = h;
    e->klen = klen;
    e->vlen = vlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, val, vlen);
    if (*pp) {
        e->next = (*pp)->next;
        free(*pp);
    } else {
        e->next = NULL;
        m->count++;
    }
    *pp = e;
    m->bytes = m->bytes - old + klen + vlen;
    if (m->count > 2ull * m->nbuckets)
        grow(m); /* failure only costs speed, never correctness */
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int32_t mem_del(eh_kv_ns *ns, const uint8_t *key, uint32_t klen)
{
    tenant_map *m = ns->be_data;
    int32_t rc = EH_ERR_NOT_FOUND;
    pthread_mutex_lock(&m->lock);
    if (m->nbuckets) {
        entry **pp = find(m, key, klen, fnv1a(key, klen));
        if (*pp) {
            entry *e = *pp;
            *pp = e->next;
            m->bytes -= (uint64_t)e->klen + e->vlen;
            m->count--;
            free(e);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_ns_init(eh_kv_ns *ns, char *err, size_t errlen)
{
    mem_store *s = (mem_store *)ns->store;
    pthread_mutex_lock(&s->lock);
    tenant_map *m = s->maps;
    while (m && strcmp(m->name, ns->name))
        m = m->next;
    if (!m && (m = calloc(1, sizeof *m))) {
        memcpy(m->name, ns->name, ns->name_len);
        pthread_mutex_init(&m->lock, NULL);
        m->next = s->maps;
        s->maps = m;
    }
    pthread_mutex_unlock(&s->lock);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ns->be_data = m;
    return 0;
}

static void mem_ns_fini(eh_kv_ns *ns) { (void)ns; /* the map outlives tenants: reload keeps it */ }

static int32_t mem_stats(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes)
{
    tenant_map *m = ns->be_data;
    pthread_mutex_lock(&m->lock);
    *count = m->count;
    *bytes = m->bytes;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int32_t mem_keys(eh_kv_ns *ns, eh_kv_buf *out)
{
    tenant_map *m = ns->be_data;
    int32_t rc = 0;
    pthread_mutex_lock(&m->lock);
    for (uint32_t i = 0; i < m->nbuckets && !rc; i++)
        for (entry *e = m->buckets[i]; e && !rc; e = e->next)
            if (eh_kv_buf_add(out, e->data, e->klen) < 0)
                rc = eh_kv_fail("out of memory");
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int32_t mem_drop(eh_kv_ns *ns)
{
    tenant_map *m = ns->be_data;
    pthread_mutex_lock(&m->lock);
    clear(m);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int32_t mem_tenants(eh_kv_store *store, eh_kv_buf *out)
{
    mem_store *s = (mem_store *)store;
    int32_t rc = 0;
    pthread_mutex_lock(&s->lock);
    for (tenant_map *m = s->maps; m && !rc; m = m->next) {
        pthread_mutex_lock(&m->lock);
        uint64_t n = m->count;
        pthread_mutex_unlock(&m->lock);
        if (n && eh_kv_buf_add(out, m->name, (uint32_t)strlen(m->name)) < 0)
            rc = eh_kv_fail("out of memory");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void mem_close(eh_kv_store *store)
{
    mem_store *s = (mem_store *)store;
    for (tenant_map *m = s->maps, *nx; m; m = nx) {
        nx = m->next;
        clear(m);
        pthread_mutex_destroy(&m->lock);
        free(m);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const eh_kv_backend mem_backend = {
    .name = "memory",
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .ns_init = mem_ns_init,
    .ns_fini = mem_ns_fini,
    .stats = mem_stats,
    .keys = mem_keys,
    .drop = mem_drop,
    .tenants = mem_tenants,
    .close = mem_close,
    .abandon = mem_close, /* nothing shared with other processes */
};

eh_kv_store *eh_kv_open_memory(char *err, size_t errlen)
{
    mem_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    eh_kv_store_init(&s->base, &mem_backend, 1u << 16);
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->base.desc, sizeof s->base.desc, "memory");
    return &s->base;
}
