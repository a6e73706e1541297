/*
 * The instance slots of one wasmtime engine, and each tenant's share of them.
 *
 * wasmtime's pooling allocator gives an engine a fixed number of instance
 * slots (host/runtime/engine.py: POOL_INSTANCES), shared by every tenant of
 * the process. Two rules keep one tenant from starving the others:
 *
 *  - Share: a tenant holds at most limits.max_instances instances alive at
 *    once (in use or idle, in any of its pools or held directly). Past it,
 *    one of its own idle instances is freed to make room; with none idle,
 *    the new instance is refused with EH_TRAP_INSTANCES -- never taken from
 *    a neighbour.
 *  - Eviction: when the engine's slots are all taken, the least recently
 *    used idle instance of any tenant (the caller's included) is freed and
 *    the allocation retried; only when every slot is in use by a call is the
 *    new instance refused, with EH_TRAP_SLOTS. So idle warm instances never
 *    pin slots, and a process loads more tenants than it has slots.
 *
 * Invariants:
 *  - slots->live counts the instances of the engine made by eh_instance_new
 *    and not yet freed; tenant->instances counts the tenant's. Both are
 *    taken before instantiating and given back after the store is deleted,
 *    so neither is ever below what wasmtime holds for them. Instances made
 *    around the host (wasmtime-py on the same engine) are not counted: when
 *    wasmtime refuses an instantiation for want of a slot, eh_instance_new
 *    evicts the same way (eh_slots_evict) and retries.
 *  - Only idle instances in a registered pool are ever evicted: an instance
 *    in use belongs to its caller alone. Eviction takes the victim out of
 *    its pool under slots->lock (a pool leaves the registry under that lock
 *    before it is retired or freed) and pins the victim's tenant
 *    (tenant->pins, which eh_tenant_free waits out); it frees the victim
 *    after dropping the lock, since that may wait for the owner's guest.
 *  - Lock order: slots->lock, then a pool's lock. The request path takes
 *    only its pool's lock (and two atomic counters when it makes an instance).
 */
#ifndef EH_WASMHOST_SLOTS_H
#define EH_WASMHOST_SLOTS_H

#include <stdint.h>
#include "wasmhost/hostapi.h"

typedef struct eh_pool eh_pool;

typedef struct eh_slots_stats {
    uint32_t capacity;   /* slots of the engine's pooling allocator (0: not pooled) */
    uint32_t live;       /* instances of the engine alive now                       */
    uint64_t evicted;    /* idle instances freed to make room                        */
    uint64_t refused;    /* instances refused: the tenant's share or every slot busy */
} eh_slots_stats;

/* The ledger of `engine`, made on first use (never freed: engines are few). */
eh_slots *eh_slots_of(const void *engine);
/* Records how many slots the engine's pooling allocator has (0: no pool). */
void eh_slots_declare(const void *engine, uint32_t capacity);
void eh_slots_get_stats(const void *engine, eh_slots_stats *out);

/* Counts one more instance of t, freeing idle ones as the rules above say.
 * 0, or EH_TRAP_INSTANCES / EH_TRAP_SLOTS with err set. */
int eh_slots_take(eh_tenant *t, char *err, size_t errlen);
/* Gives back what eh_slots_take counted (the instance is gone). */
void eh_slots_give(eh_tenant *t);
/* Frees the least recently used idle instance of t's engine: 1, or 0 when
 * none is idle (for instances wasmtime refused although the ledger had room:
 * made outside it). */
int eh_slots_evict(eh_tenant *t);

/* Pools register their idle instances for eviction (pool.c). */
int eh_slots_add_pool(eh_slots *s, eh_pool *p);
void eh_slots_remove_pool(eh_slots *s, eh_pool *p);

#endif
