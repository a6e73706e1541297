/*
 * A tenant version's instance pool, shared by the threads that run its
 * handlers (the HTTP server's dispatcher), with a reference count.
 *
 * Invariants:
 *  - Every instance of a pool resolves the pool's handler exports in the
 *    pool's order, so handler index i names the same export in all of them.
 *  - An instance is used by one thread at a time: acquire hands it out
 *    exclusively, release takes it back (or frees it: after a trap, in
 *    "fresh" mode, or past max_idle).
 *  - refs counts the pool's users (route tables, requests in flight) plus
 *    one for its owner; the owner frees the pool (eh_pool_free) only when
 *    eh_pool_users() is 0 and no table can hand it out any more. The pool
 *    never frees its tenant: the tenant's owner does that after the pool.
 */
#ifndef EH_WASMHOST_POOL_H
#define EH_WASMHOST_POOL_H

#include <stdint.h>
#include "wasmhost/hostapi.h"

#define EH_POOL_MAX_HANDLERS 64

typedef struct eh_pool eh_pool;

typedef struct eh_pool_stats {
    uint64_t idle;        /* instances waiting in the pool                   */
    uint64_t live;        /* instances alive (idle + in use)                 */
    uint64_t created;     /* instances created since the pool was made       */
    uint64_t discarded;   /* instances freed after a trap                     */
    uint64_t memory;      /* linear memory of the live instances, bytes      */
} eh_pool_stats;

/* handlers: the exports requests may call, in index order. fresh != 0: a new
 * instance for every acquire (manifest instance = "fresh"). */
eh_pool *eh_pool_new(eh_tenant *t, const char *const *handlers, uint32_t nhandlers,
                     uint32_t max_idle, int fresh, char *err, size_t errlen);
/* Frees the idle instances and the pool. Precondition: no instance is out. */
void eh_pool_free(eh_pool *p);

/* An instance ready for a call, or NULL with err set (instantiation or the
 * tenant's edgehost_configure failed). */
eh_instance *eh_pool_acquire(eh_pool *p, char *err, size_t errlen);
/* Gives inst back; discard != 0 frees it (it trapped: never reuse). */
void eh_pool_release(eh_pool *p, eh_instance *inst, int discard);

eh_tenant *eh_pool_tenant(eh_pool *p);
void eh_pool_ref(eh_pool *p);
void eh_pool_unref(eh_pool *p);
/* References other than the owner's. */
uint64_t eh_pool_users(eh_pool *p);
void eh_pool_get_stats(eh_pool *p, eh_pool_stats *out);

#endif
