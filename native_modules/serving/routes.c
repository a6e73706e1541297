/* Route table: (host, path) -> tenant version + handler, by exact match;
 * host "" is the fallback for any Host. Built by the control plane, read
 * only by the loop thread once installed, released there on the next swap. */
#include <stdlib.h>
#include <string.h>
#include "serving/server.h"

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    while (n--)
        h = (h ^ (uint8_t)*p++) * 1099511628211ull;
    return h;
}

eh_routes *eh_routes_new(void)
{
    eh_routes *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->nslots = 64;
    r->slots = calloc(r->nslots, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return NULL;
    }
    return r;
}

static eh_route *probe(const eh_routes *r, const char *key, size_t len)
{
    uint32_t mask = r->nslots - 1;
    for (uint32_t i = (uint32_t)hash(key, len) & mask;; i = (i + 1) & mask) {
        eh_route *e = &r->slots[i];
        if (!e->key || (e->key_len == len && !memcmp(e->key, key, len)))
            return e;
    }
}

static int grow(eh_routes *r)
{
    eh_routes n = {.nslots = r->nslots * 2};
    if (!(n.slots = calloc(n.nslots, sizeof *n.slots)))
        return -1;
    for (uint32_t i = 0; i < r->nslots; i++)
        if (r->slots[i].key)
            *probe(&n, r->slots[i].key, r->slots[i].key_len) = r->slots[i];
    free(r->slots);
    r->slots = n.slots;
    r->nslots = n.nslots;
    return 0;
}

int eh_routes_add(eh_routes *r, const char *host, const char *path, uint32_t strip, eh_svc *svc,
                  uint32_t handler)
{
    if ((r->count + 1) * 2 > r->nslots && grow(r) < 0)
        return -2;
    size_t hl = strlen(host), pl = strlen(path);
    char *key = malloc(hl + pl + 2);
    if (!key)
        return -2;
    memcpy(key, host, hl);
    key[hl] = '\n';
    memcpy(key + hl + 1, path, pl + 1);
    eh_route *e = probe(r, key, hl + 1 + pl);
    if (e->key) {
        free(key);
        return -1;
    }
    *e = (eh_route){key, (uint32_t)(hl + 1 + pl), strip, svc, handler};
    eh_pool_ref(svc->pool);
    r->count++;
    return 0;
}

const eh_route *eh_routes_find(const eh_routes *r, const char *host, size_t host_len,
                               const char *path, size_t path_len)
{
    if (!r)
        return NULL;
    char buf[512];
    if (host_len + path_len + 1 > sizeof buf)
        return NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t hl = pass ? 0 : host_len;
        if (pass == 0 && !host_len)
            continue;
        memcpy(buf, host, hl);
        buf[hl] = '\n';
        memcpy(buf + hl + 1, path, path_len);
        const eh_route *e = probe(r, buf, hl + 1 + path_len);
        if (e->key)
            return e;
    }
    return NULL;
}

void eh_routes_release(eh_routes *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nslots; i++) {
        if (r->slots[i].key) {
            eh_pool_unref(r->slots[i].svc->pool);
            free(r->slots[i].key);
        }
    }
    free(r->slots);
    free(r);
}

void eh_routes_free(eh_routes *r) { eh_routes_release(r); }
