/* edgehost.kv_get / kv_put / kv_delete: the tenant's namespace in the host's
 * kv store (native_modules/state: LMDB by default, Redis, or memory).
 *
 * Here: bounds checks (a bad range traps), size checks (INVALID: an empty
 * key, a key over kv_max_key or over what the store can hold, a value over
 * kv_max_value), then the backend. The quota on the tenant's total bytes is
 * checked by the backend inside its write, so it holds across processes.
 *
 * A store that cannot serve (EH_ERR_UNAVAILABLE: server down, disk full)
 * answers the import with UNAVAILABLE and also fails the whole host call
 * when it returns (eh_kv_call_end: EH_TRAP_STORE), so the request becomes a
 * 5xx instead of an answer computed without the tenant's state. */
#include <stdio.h>
#include "state/ffi.h"
#include "state/kv.h"
#include "wasmhost/imports.h"

/* Set by an import that got EH_ERR_UNAVAILABLE; read and cleared when the
 * host call ends (the call runs on this thread from start to end). */
static __thread int tls_kv_failed;

static int key_ok(const eh_tenant *t, uint32_t klen)
{
    return klen > 0 && klen <= t->limits.kv_max_key && klen <= t->kv->store->max_key;
}

/* The tenant's namespace, or NULL with the failure recorded. */
static eh_kv_ns *ns_of(eh_tenant *t)
{
    eh_kv_ns *ns = t->kv;
    if (__builtin_expect(!ns, 0))
        eh_kv_fail("tenant %s has no kv store", t->name);
    else if (eh_kv_forked(ns->store))
        eh_kv_fail("%s was opened before this process forked", ns->store->desc);
    else
        return ns;
    tls_kv_failed = 1;
    return NULL;
}

static int32_t result(int32_t rc)
{
    if (__builtin_expect(rc == EH_ERR_UNAVAILABLE, 0))
        tls_kv_failed = 1;
    return rc;
}

EH_IMPORT_DEF(kv_get)
{
    eh_mem m = eh_caller_mem(caller);
    uint32_t klen = (uint32_t)A(1), out = (uint32_t)A(2), cap = (uint32_t)A(3);
    uint8_t *key = eh_mem_range(&m, A(0), klen);
    if (!key)
        return eh_trap_range("kv_get", A(0), klen, m.size);
    if (!eh_mem_range(&m, out, cap))
        return eh_trap_range("kv_get", out, cap, m.size);
    eh_kv_ns *ns = ns_of(m.inst->tenant);
    if (!ns)
        args[0].i32 = EH_ERR_UNAVAILABLE;
    else if (!key_ok(m.inst->tenant, klen))
        args[0].i32 = EH_ERR_INVALID;
    else { /* copy-out rule: the full length; the bytes only if they fit in cap */
        eh_fresh_mark(m.inst, out, cap);
        args[0].i32 = result(ns->store->be->get(ns, key, klen, m.base + out, cap));
    }
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
    eh_kv_ns *ns = ns_of(t);
    if (!ns)
        args[0].i32 = EH_ERR_UNAVAILABLE;
    else if (!key_ok(t, klen) || vlen > t->limits.kv_max_value)
        args[0].i32 = EH_ERR_INVALID;
    else {
        m.inst->effects++; /* from here the call cannot be preempted (instance.c) */
        args[0].i32 = result(ns->store->be->put(ns, key, klen, val, vlen));
    }
    return NULL;
}

EH_IMPORT_DEF(kv_delete)
{
    eh_mem m = eh_caller_mem(caller);
    uint32_t klen = (uint32_t)A(1);
    uint8_t *key = eh_mem_range(&m, A(0), klen);
    if (!key)
        return eh_trap_range("kv_delete", A(0), klen, m.size);
    eh_kv_ns *ns = ns_of(m.inst->tenant);
    if (!ns)
        args[0].i32 = EH_ERR_UNAVAILABLE;
    else if (!key_ok(m.inst->tenant, klen))
        args[0].i32 = EH_ERR_INVALID;
    else {
        m.inst->effects++;
        args[0].i32 = result(ns->store->be->del(ns, key, klen));
    }
    return NULL;
}

int eh_kv_call_end(eh_instance *inst)
{
    eh_kv_release_snapshots();
    if (__builtin_expect(!tls_kv_failed, 1))
        return 0;
    tls_kv_failed = 0;
    inst->trap_kind = EH_TRAP_STORE;
    snprintf(inst->error, sizeof inst->error, "kv store unavailable: %s", eh_kv_last_error());
    return -1;
}

void eh_tenant_set_kv(eh_tenant *t, eh_kv_ns *ns)
{
    if (ns)
        eh_kv_ns_retain(ns);
    eh_kv_ns *old = t->kv;
    t->kv = ns;
    eh_kv_ns_release(old);
}

void eh_kv_free_all(eh_tenant *t)
{
    eh_kv_ns_release(t->kv);
    t->kv = NULL;
}

void eh_tenant_kv_stats(eh_tenant *t, uint64_t *count, uint64_t *bytes)
{
    *count = *bytes = 0;
    if (t->kv)
        eh_kv_ns_stats(t->kv, count, bytes);
}
