/* Instance pool of one tenant version (see pool.h for the invariants). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wasmhost/ffi.h"
#include "wasmhost/pool.h"
#include "wasmhost/slots.h"

struct eh_pool {
    eh_tenant *tenant;
    eh_slots *slots;               /* the tenant's engine's (pool.c never reads
                                      tenant once retired: it may be gone) */
    uint32_t nhandlers;
    char **handlers;
    uint32_t max_idle;
    int fresh;
    int retired;                   /* eh_pool_retire: keep nothing idle any more */
    _Atomic uint64_t refs;
    pthread_mutex_t lock;          /* guards the idle stack and the counters */
    eh_instance **idle;            /* idle[0] least, idle[nidle-1] most recently released */
    uint64_t *idle_since;          /* eh_now_mono_ns() at each one's release */
    uint32_t nidle;
    uint64_t live, created, discarded, evicted; /* live - nidle: instances out */
    _Atomic uint64_t memory;
    int registered;                /* in its engine's slot ledger */
};

static void unregister(eh_pool *p)
{
    if (p->registered) { /* no eviction can reach the pool after this */
        eh_slots_remove_pool(p->slots, p);
        p->registered = 0;
    }
}

static uint64_t inst_memory(eh_instance *inst)
{
    uint64_t size = 0;
    eh_instance_memory(inst, &size);
    return size;
}

eh_pool *eh_pool_new(eh_tenant *t, const char *const *handlers, uint32_t nhandlers,
                     uint32_t max_idle, int fresh, char *err, size_t errlen)
{
    uint32_t slots = max_idle ? max_idle : 1;
    eh_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->idle = calloc(slots, sizeof *p->idle)) ||
        !(p->idle_since = calloc(slots, sizeof *p->idle_since)) ||
        !(p->handlers = calloc(nhandlers ? nhandlers : 1, sizeof *p->handlers))) {
        if (p) {
            free(p->idle);
            free(p->idle_since);
        }
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->tenant = t;
    p->slots = t->slots;
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
    if (eh_slots_add_pool(t->slots, p) < 0) {
        eh_pool_free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->registered = 1;
    return p;
}

void eh_pool_free(eh_pool *p)
{
    if (!p)
        return;
    unregister(p);
    for (uint32_t i = 0; i < p->nidle; i++)
        eh_instance_free(p->idle[i]);
    for (uint32_t i = 0; i < p->nhandlers; i++)
        free(p->handlers[i]);
    free(p->handlers);
    free(p->idle);
    free(p->idle_since);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* A new instance with the handlers resolved in pool order and the tenant's
 * edgehost_configure run. */
static eh_instance *create(eh_pool *p, int *kind, char *err, size_t errlen)
{
    eh_instance *inst = eh_instance_new(p->tenant, kind, err, errlen);
    if (!inst)
        return NULL;
    *kind = EH_TRAP_ERROR;
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
        if (eh_instance_call(inst, cfg, &rc, 1) < 0) {
            snprintf(err, errlen, "edgehost_configure: %s", eh_instance_error(inst, kind));
            eh_instance_free(inst);
            return NULL;
        }
        if ((uint32_t)rc) {
            *kind = EH_TRAP_REFUSED;
            snprintf(err, errlen, "tenant refused its configuration (edgehost_configure "
                     "returned %u)", (uint32_t)rc);
            eh_instance_free(inst);
            return NULL;
        }
    }
    *kind = EH_TRAP_NONE;
    return inst;
}

eh_instance *eh_pool_acquire(eh_pool *p, int *kind, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    if (p->retired) {
        pthread_mutex_unlock(&p->lock);
        *kind = EH_TRAP_ERROR;
        snprintf(err, errlen, "this version is closed");
        return NULL;
    }
    if (p->nidle) {
        eh_instance *inst = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->lock);
        *kind = EH_TRAP_NONE;
        return inst;
    }
    p->live++; /* counted out now: a retire meanwhile waits for it */
    pthread_mutex_unlock(&p->lock);
    /* Outside the lock: tenant code runs, and a full share or full slots
     * evict idle instances, this pool's included (slots.h). */
    eh_instance *inst = create(p, kind, err, errlen);
    pthread_mutex_lock(&p->lock);
    if (!inst) {
        p->live--;
        int last = p->retired && p->live == p->nidle;
        pthread_mutex_unlock(&p->lock);
        if (last) { /* retired meanwhile, nothing else out: the caller finishes it */
            *kind = EH_TRAP_CLOSED;
            snprintf(err, errlen, "this version is closed");
        }
        return NULL;
    }
    p->created++;
    pthread_mutex_unlock(&p->lock);
    inst->pool_memory = inst_memory(inst);
    p->memory += inst->pool_memory;
    return inst;
}

int eh_pool_release(eh_pool *p, eh_instance *inst, int discard)
{
    uint64_t mem = inst_memory(inst); /* linear memory only grows */
    p->memory += mem - inst->pool_memory;
    inst->pool_memory = mem;
    /* A fresh pool keeps an instance only once it is back in the state a
     * new one starts in (fresh.c); reset outside the lock: it copies pages. */
    int keep = !discard && (!p->fresh || eh_fresh_reset(inst) == 0);
    pthread_mutex_lock(&p->lock);
    if (keep && !p->retired && p->nidle < p->max_idle) {
        p->idle_since[p->nidle] = (uint64_t)eh_now_mono_ns();
        p->idle[p->nidle++] = inst;
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    p->live--;
    p->discarded += discard != 0;
    int last = p->retired && p->live == p->nidle;
    pthread_mutex_unlock(&p->lock);
    p->memory -= mem;
    eh_instance_free(inst); /* before the caller may free the tenant */
    return last;
}

int eh_pool_retire(eh_pool *p)
{
    unregister(p);
    pthread_mutex_lock(&p->lock);
    p->retired = 1;
    pthread_mutex_unlock(&p->lock);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (!p->nidle) {
            int none_out = p->live == 0;
            pthread_mutex_unlock(&p->lock);
            return none_out;
        }
        eh_instance *inst = p->idle[--p->nidle];
        p->live--;
        pthread_mutex_unlock(&p->lock);
        p->memory -= inst->pool_memory;
        eh_instance_free(inst);
    }
}

uint64_t eh_pool_oldest_idle(eh_pool *p)
{
    pthread_mutex_lock(&p->lock);
    uint64_t at = p->nidle ? p->idle_since[0] : UINT64_MAX;
    pthread_mutex_unlock(&p->lock);
    return at;
}

eh_instance *eh_pool_evict_oldest(eh_pool *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->nidle) {
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
    eh_instance *inst = p->idle[0];
    p->nidle--;
    memmove(p->idle, p->idle + 1, p->nidle * sizeof *p->idle);
    memmove(p->idle_since, p->idle_since + 1, p->nidle * sizeof *p->idle_since);
    p->live--;
    p->evicted++;
    pthread_mutex_unlock(&p->lock);
    p->memory -= inst->pool_memory;
    return inst;
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
    out->evicted = p->evicted;
    pthread_mutex_unlock(&p->lock);
    out->memory = p->memory;
}
