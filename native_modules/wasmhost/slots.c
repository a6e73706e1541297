/* Instance slots of an engine and the tenants' shares (see slots.h). */
#include <stdio.h>
#include <stdlib.h>
#include "wasmhost/ffi.h"
#include "wasmhost/pool.h"
#include "wasmhost/slots.h"

struct eh_slots {
    eh_slots *next;              /* all ledgers (guarded by ledgers_lock)        */
    const void *engine;
    _Atomic uint32_t capacity;   /* 0: no pooling allocator, no process limit    */
    _Atomic uint32_t live;
    _Atomic uint64_t evicted, refused;
    pthread_mutex_t lock;        /* guards the pool registry; held while evicting */
    eh_pool **pools;
    uint32_t npools, cap_pools;
};

static pthread_mutex_t ledgers_lock = PTHREAD_MUTEX_INITIALIZER;
static eh_slots *ledgers;

eh_slots *eh_slots_of(const void *engine)
{
    pthread_mutex_lock(&ledgers_lock);
    eh_slots *s = ledgers;
    while (s && s->engine != engine)
        s = s->next;
    if (!s && (s = calloc(1, sizeof *s))) {
        /* An engine freed and another made at its address finds this one:
         * its counts are back to 0 by then (instances go before engines). */
        s->engine = engine;
        pthread_mutex_init(&s->lock, NULL);
        s->next = ledgers;
        ledgers = s;
    }
    pthread_mutex_unlock(&ledgers_lock);
    return s;
}

void eh_slots_declare(const void *engine, uint32_t capacity)
{
    eh_slots *s = eh_slots_of(engine);
    if (s)
        s->capacity = capacity;
}

void eh_slots_get_stats(const void *engine, eh_slots_stats *out)
{
    eh_slots *s = eh_slots_of(engine);
    *out = (eh_slots_stats){0};
    if (!s)
        return;
    out->capacity = s->capacity;
    out->live = s->live;
    out->evicted = s->evicted;
    out->refused = s->refused;
}

int eh_slots_add_pool(eh_slots *s, eh_pool *p)
{
    pthread_mutex_lock(&s->lock);
    if (s->npools == s->cap_pools) {
        uint32_t cap = s->cap_pools ? s->cap_pools * 2 : 16;
        eh_pool **grown = realloc(s->pools, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        s->pools = grown;
        s->cap_pools = cap;
    }
    s->pools[s->npools++] = p;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void eh_slots_remove_pool(eh_slots *s, eh_pool *p)
{
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->npools; i++) {
        if (s->pools[i] == p) {
            s->pools[i] = s->pools[--s->npools];
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* Frees the least recently released idle instance in s's pools (of tenant
 * `only`, when set). 1 if one was freed, 0 if none is idle. The scan is
 * O(pools) and runs only when a share or the slots are full. */
static int evict_one(eh_slots *s, const eh_tenant *only)
{
    pthread_mutex_lock(&s->lock);
    eh_pool *best = NULL;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < s->npools; i++) {
        eh_pool *p = s->pools[i];
        if (only && eh_pool_tenant(p) != only)
            continue;
        uint64_t at = eh_pool_oldest_idle(p);
        if (at < oldest) {
            oldest = at;
            best = p;
        }
    }
    eh_instance *victim = best ? eh_pool_evict_oldest(best) : NULL;
    eh_tenant *owner = victim ? victim->tenant : NULL;
    if (owner)
        owner->pins++; /* its pool is registered: the tenant is alive here */
    pthread_mutex_unlock(&s->lock);
    if (!victim)
        return 0;
    /* Outside the ledger's lock: freeing may wait for the owner's guest (a
     * window to detach while a kernel call of the owner runs). */
    eh_instance_free(victim);
    s->evicted++;
    __atomic_fetch_sub(&owner->pins, 1, __ATOMIC_RELEASE);
    return 1;
}

int eh_slots_take(eh_tenant *t, char *err, size_t errlen)
{
    eh_slots *s = t->slots;
    uint32_t share = t->limits.max_instances;
    uint32_t n = t->instances;
    for (;;) {
        if (share && n >= share) {
            if (evict_one(s, t)) {
                n = t->instances;
                continue;
            }
            s->refused++;
            snprintf(err, errlen, "all %u instances of its limits.instances share are in use",
                     n);
            return EH_TRAP_INSTANCES;
        }
        if (__atomic_compare_exchange_n(&t->instances, &n, n + 1, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            break;
    }
    uint32_t live = s->live;
    for (;;) {
        uint32_t cap = s->capacity;
        if (cap && live >= cap) {
            if (evict_one(s, NULL)) {
                live = s->live;
                continue;
            }
            t->instances--;
            s->refused++;
            snprintf(err, errlen, "all %u instance slots of this process are in use by calls",
                     cap);
            return EH_TRAP_SLOTS;
        }
        if (__atomic_compare_exchange_n(&s->live, &live, live + 1, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            break;
    }
    return 0;
}

void eh_slots_give(eh_tenant *t)
{
    t->slots->live--;
    t->instances--;
}

int eh_slots_evict(eh_tenant *t)
{
    if (evict_one(t->slots, NULL))
        return 1;
    t->slots->refused++;
    return 0;
}
