/* edgehost.kv_get / kv_put / kv_delete: a per-tenant in-memory map.
 * Bounded: key and value sizes, and keys+values bytes for the whole tenant
 * (limits.kv_*). A put that would exceed them returns EH_ERR_QUOTA and
 * changes nothing. Tenants never share a map. */
#include <stdlib.h>
#include <string.h>
#include "wasmhost/imports.h"

struct eh_kv_entry {
    eh_kv_entry *next;
    uint64_t hash;
    uint32_t klen, vlen;
    uint8_t data[]; /* key bytes, then value bytes */
};

#define A(i) (args[i].i32)

static uint64_t fnv1a(const uint8_t *p, uint32_t n)
{
    uint64_t h = 1469598103934665603ull;
    while (n--)
        h = (h ^ *p++) * 1099511628211ull;
    return h;
}

static eh_kv_entry **find(eh_tenant *t, const uint8_t *key, uint32_t klen, uint64_t h)
{
    eh_kv_entry **pp = &t->kv_buckets[h & (t->kv_nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && !memcmp((*pp)->data, key, klen))
            return pp;
    return pp;
}

static int grow(eh_tenant *t)
{
    uint32_t nb = t->kv_nbuckets ? t->kv_nbuckets * 2 : 64;
    eh_kv_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (uint32_t i = 0; i < t->kv_nbuckets; i++) {
        for (eh_kv_entry *e = t->kv_buckets[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(t->kv_buckets);
    t->kv_buckets = b;
    t->kv_nbuckets = nb;
    return 0;
}

void eh_kv_free_all(eh_tenant *t)
{
    for (uint32_t i = 0; i < t->kv_nbuckets; i++)
        for (eh_kv_entry *e = t->kv_buckets[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    free(t->kv_buckets);
    t->kv_buckets = NULL;
    t->kv_nbuckets = 0;
    t->kv_bytes = t->kv_count = 0;
}

static int key_ok(const eh_tenant *t, uint32_t klen)
{
    return klen > 0 && klen <= t->limits.kv_max_key;
}

EH_IMPORT_DEF(kv_get)
{
    eh_mem m = eh_caller_mem(caller);
    uint8_t *key = eh_mem_range(&m, A(0), A(1));
    if (!key)
        return eh_trap_range("kv_get", A(0), A(1), m.size);
    if (!eh_mem_range(&m, A(2), A(3)))
        return eh_trap_range("kv_get", A(2), A(3), m.size);
    eh_tenant *t = m.inst->tenant;
    if (!key_ok(t, (uint32_t)A(1))) {
        args[0].i32 = EH_ERR_INVALID;
        return NULL;
    }
    pthread_mutex_lock(&t->lock);
    int32_t rc = EH_ERR_NOT_FOUND;
    if (t->kv_nbuckets) {
        eh_kv_entry *e = *find(t, key, (uint32_t)A(1), fnv1a(key, (uint32_t)A(1)));
        if (e)
            rc = eh_copy_out(&m, (uint32_t)A(2), (uint32_t)A(3), e->data + e->klen, e->vlen);
    }
    pthread_mutex_unlock(&t->lock);
    args[0].i32 = rc;
    return NULL;
}

EH_IMPORT_DEF(kv_put)
{
    eh_mem m = eh_caller_mem(caller);
    uint32_t klen = (uint32_t)A(1), vlen = (uint32_t)A(3);
    uint8_t *key = eh_mem_range(&m, A(0), klen);
    if (!key)
        return eh_trap_range("kv_put", A(0), klen, m.size);
    uint8_t *val = eh_mem_range(&m, A(2), vlen);
    if (!val)
        return eh_trap_range("kv_put", A(2), vlen, m.size);
    eh_tenant *t = m.inst->tenant;
    if (!key_ok(t, klen) || vlen > t->limits.kv_max_value) {
        args[0].i32 = EH_ERR_INVALID;
        return NULL;
    }
    int32_t rc = 0;
    pthread_mutex_lock(&t->lock);
    if (!t->kv_nbuckets && grow(t) < 0) {
        rc = EH_ERR_QUOTA;
        goto out;
    }
    uint64_t h = fnv1a(key, klen);
    eh_kv_entry **pp = find(t, key, klen, h);
    uint64_t old = *pp ? (*pp)->klen + (*pp)->vlen : 0;
    if (t->kv_bytes - old + klen + vlen > t->limits.kv_max_bytes) {
        rc = EH_ERR_QUOTA;
        goto out;
    }
    eh_kv_entry *e = malloc(sizeof *e + klen + vlen);
    if (!e) {
        rc = EH_ERR_QUOTA;
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
        *pp = e;
    } else {
        e->next = NULL;
        *pp = e;
        t->kv_count++;
    }
    t->kv_bytes = t->kv_bytes - old + klen + vlen;
    if (t->kv_count > 2ull * t->kv_nbuckets)
        grow(t); /* failure only costs speed, never correctness */
out:
    pthread_mutex_unlock(&t->lock);
    args[0].i32 = rc;
    return NULL;
}

EH_IMPORT_DEF(kv_delete)
{
    eh_mem m = eh_caller_mem(caller);
    uint32_t klen = (uint32_t)A(1);
    uint8_t *key = eh_mem_range(&m, A(0), klen);
    if (!key)
        return eh_trap_range("kv_delete", A(0), klen, m.size);
    eh_tenant *t = m.inst->tenant;
    if (!key_ok(t, klen)) {
        args[0].i32 = EH_ERR_INVALID;
        return NULL;
    }
    int32_t rc = EH_ERR_NOT_FOUND;
    pthread_mutex_lock(&t->lock);
    if (t->kv_nbuckets) {
        eh_kv_entry **pp = find(t, key, klen, fnv1a(key, klen));
        if (*pp) {
            eh_kv_entry *e = *pp;
            *pp = e->next;
            t->kv_bytes -= e->klen + e->vlen;
            t->kv_count--;
            free(e);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&t->lock);
    args[0].i32 = rc;
    return NULL;
}
