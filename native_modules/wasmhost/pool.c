/* Instance pool of one tenant version (see pool.h for the invariants). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wasmhost/ffi.h"
#include "wasmhost/pool.h"

struct eh_pool {
    eh_tenant *tenant;
    uint32_t nhandlers;
    char *handlers[EH_POOL_MAX_HANDLERS];
    uint32_t max_idle;
    int fresh;
    _Atomic uint64_t refs;
    pthread_mutex_t lock;          /* guards the idle stack and the counters */
    eh_instance **idle;
    uint32_t nidle;
    uint64_t live, created, discarded;
    _Atomic uint64_t memory;
};

static uint64_t inst_memory(eh_instance *inst)
{
    uint64_t size = 0;
    eh_instance_memory(inst, &size);
    return size;
}

eh_pool *eh_pool_new(eh_tenant *t, const char *const *handlers, uint32_t nhandlers,
                     uint32_t max_idle, int fresh, char *err, size_t errlen)
{
    if (nhandlers > EH_POOL_MAX_HANDLERS) {
        snprintf(err, errlen, "%u handlers: at most %d can be routed", nhandlers,
                 EH_POOL_MAX_HANDLERS);
        return NULL;
    }
    eh_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->idle = calloc(max_idle ? max_idle : 1, sizeof *p->idle))) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->tenant = t;
    p->max_idle = max_idle;
    p->fresh = fresh;
    p->refs = 1;
    pthread_mutex_init(&p->lock, NULL);
    for (uint32_t i = 0; i < nhandlers; i++) {
        if (!(p->handlers[i] = strdup(handlers[i]))) {
            eh_pool_free(p);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        p->nhandlers = i + 1;
    }
    return p;
}

void eh_pool_free(eh_pool *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->nidle; i++)
        eh_instance_free(p->idle[i]);
    for (uint32_t i = 0; i < p->nhandlers; i++)
        free(p->handlers[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* A new instance with the handlers resolved in pool order and the tenant's
 * edgehost_configure run (as host/runtime/tenant.py does for its pool). */
static eh_instance *create(eh_pool *p, char *err, size_t errlen)
{
    eh_instance *inst = eh_instance_new(p->tenant, err, errlen);
    if (!inst)
        return NULL;
    for (uint32_t i = 0; i < p->nhandlers; i++) {
        if (eh_instance_export(inst, p->handlers[i]) != (int)i) {
            snprintf(err, errlen, "handler %s is not an export of the module", p->handlers[i]);
            eh_instance_free(inst);
            return NULL;
        }
    }
    int cfg = eh_instance_export(inst, "edgehost_configure");
    if (cfg >= 0) {
        uint64_t rc = 0;
        int kind;
        if (eh_instance_call(inst, cfg, &rc, 1) < 0) {
            snprintf(err, errlen, "edgehost_configure: %s", eh_instance_error(inst, &kind));
            eh_instance_free(inst);
            return NULL;
        }
        if ((uint32_t)rc) {
            snprintf(err, errlen, "tenant refused its configuration (edgehost_configure "
                     "returned %u)", (uint32_t)rc);
            eh_instance_free(inst);
            return NULL;
        }
    }
    return inst;
}

eh_instance *eh_pool_acquire(eh_pool *p, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    if (p->nidle) {
        eh_instance *inst = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->lock);
        return inst;
    }
    pthread_mutex_unlock(&p->lock);
    eh_instance *inst = create(p, err, errlen); /* outside the lock: tenant code runs */
    if (!inst)
        return NULL;
    pthread_mutex_lock(&p->lock);
    p->live++;
    p->created++;
    pthread_mutex_unlock(&p->lock);
    inst->pool_memory = inst_memory(inst);
    p->memory += inst->pool_memory;
    return inst;
}

void eh_pool_release(eh_pool *p, eh_instance *inst, int discard)
{
    uint64_t mem = inst_memory(inst); /* linear memory only grows */
    p->memory += mem - inst->pool_memory;
    inst->pool_memory = mem;
    pthread_mutex_lock(&p->lock);
    if (!discard && !p->fresh && p->nidle < p->max_idle) {
        p->idle[p->nidle++] = inst;
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->live--;
    p->discarded += discard != 0;
    pthread_mutex_unlock(&p->lock);
    p->memory -= mem;
    eh_instance_free(inst);
}

eh_tenant *eh_pool_tenant(eh_pool *p) { return p->tenant; }
void eh_pool_ref(eh_pool *p) { p->refs++; }
void eh_pool_unref(eh_pool *p) { p->refs--; }
uint64_t eh_pool_users(eh_pool *p) { return p->refs - 1; }

void eh_pool_get_stats(eh_pool *p, eh_pool_stats *out)
{
    pthread_mutex_lock(&p->lock);
    out->idle = p->nidle;
    out->live = p->live;
    out->created = p->created;
    out->discarded = p->discarded;
    pthread_mutex_unlock(&p->lock);
    out->memory = p->memory;
}
