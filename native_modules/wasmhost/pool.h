/*
 * A tenant version's instance pool, shared by the threads that run its
 * handlers (the HTTP server's dispatcher; host/runtime/tenant.py's calls),
 * with a reference count. Its idle instances are registered with the
 * engine's slot ledger (slots.h), which may free the least recently used of
 * them when a tenant's share or the engine's slots are full.
 *
 * Invariants:
 *  - Every instance of a pool resolves the pool's handler exports in the
 *    pool's order, so handler index i names the same export in all of them.
 *  - An instance is used by one thread at a time: acquire hands it out
 *    exclusively, release takes it back (or frees it: after a trap, in
 *    "fresh" mode, past max_idle, or once the pool is retired). The idle
 *    stack is LIFO (the warmest instance goes out first); its bottom is the
 *    least recently released, which eviction takes.
 *  - refs counts the pool's users (route tables, requests in flight) plus
 *    one for its owner; the owner frees the pool (eh_pool_free) only when
 *    eh_pool_users() is 0 and no table can hand it out any more. The pool
 *    never frees its tenant: the tenant's owner does that after the pool.
 */
#ifndef EH_WASMHOST_POOL_H
#define EH_WASMHOST_POOL_H

#include <stdint.h>
#include "wasmhost/hostapi.h"

typedef struct eh_pool eh_pool;

typedef struct eh_pool_stats {
    uint64_t idle;        /* instances waiting in the pool                   */
    uint64_t live;        /* instances alive (idle + in use)                 */
    uint64_t created;     /* instances created since the pool was made       */
    uint64_t discarded;   /* instances freed after a trap                     */
    uint64_t memory;      /* linear memory of the live instances, bytes      */
    uint64_t evicted;     /* idle instances freed for another's allocation   */
} eh_pool_stats;

/* handlers: the exports requests may call, in index order. fresh != 0: a new
 * instance for every acquire (manifest instance = "fresh"). */
eh_pool *eh_pool_new(eh_tenant *t, const char *const *handlers, uint32_t nhandlers,
                     uint32_t max_idle, int fresh, char *err, size_t errlen);
/* Frees the idle instances and the pool. Precondition: no instance is out. */
void eh_pool_free(eh_pool *p);

/* An instance ready for a call, or NULL with err and *kind (enum
 * eh_trap_kind) set: EH_TRAP_INSTANCES / EH_TRAP_SLOTS (no room: the
 * tenant's share or every slot is in use), EH_TRAP_REFUSED (its
 * edgehost_configure returned non-zero), EH_TRAP_CLOSED (see
 * eh_pool_retire), else how instantiation or edgehost_configure failed
 * (a retired pool: EH_TRAP_ERROR). */
eh_instance *eh_pool_acquire(eh_pool *p, int *kind, char *err, size_t errlen);
/* Gives inst back; discard != 0 frees it (it trapped: never reuse).
 * Returns 1 when the pool is retired and this was its last instance out:
 * the caller then finishes the retirement (frees the tenant). */
int eh_pool_release(eh_pool *p, eh_instance *inst, int discard);
/* Retires the pool (the version is closed; calls in flight finish): it
 * leaves the slot ledger, frees its idle instances now and every instance
 * given back from now on, and refuses to hand out more. Returns 1 when no
 * instance is out (the caller finishes the retirement now), else 0 (the
 * eh_pool_release, or eh_pool_acquire failing with EH_TRAP_CLOSED, of the
 * last one out says so). A retired pool never reads its tenant again; it is
 * still freed with eh_pool_free. */
int eh_pool_retire(eh_pool *p);

/* For the slot ledger (slots.c), under its lock: when the least recently
 * released idle instance was given back (UINT64_MAX: none idle), and
 * taking it out of the pool for eviction (NULL: none idle). */
uint64_t eh_pool_oldest_idle(eh_pool *p);
eh_instance *eh_pool_evict_oldest(eh_pool *p);

eh_tenant *eh_pool_tenant(eh_pool *p);
void eh_pool_ref(eh_pool *p);
void eh_pool_unref(eh_pool *p);
/* References other than the owner's. */
uint64_t eh_pool_users(eh_pool *p);
void eh_pool_get_stats(eh_pool *p, eh_pool_stats *out);

#endif
