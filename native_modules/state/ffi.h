/* What Python may call in the kv store (mirrored in ffi.cdef). The control
 * plane: open a store, open a tenant's namespace, operator reads and writes,
 * listings. The data plane is the kv_* imports (wasmhost/hostapi_kv.c). */
#ifndef EH_STATE_FFI_H
#define EH_STATE_FFI_H
#include "state/kv.h"

eh_kv_store *eh_kv_open_memory(char *err, size_t errlen);
/* The embedded store in directory dir (created if missing). map_size: bytes
 * of address space for a NEW store (an existing one keeps the size it was
 * created with); flush_ms: the durability interval (0 = sync every commit). */
eh_kv_store *eh_kv_open_lmdb(const char *dir, uint64_t map_size, uint32_t flush_ms, char *err,
                             size_t errlen);
/* A Redis/Valkey server. Keys are "<prefix>:{<tenant>}:<key>", the tenant's
 * counters the hash "<prefix>:{<tenant>}". After a failure the store answers
 * EH_ERR_UNAVAILABLE at once for retry_ms, then tries again. */
eh_kv_store *eh_kv_open_redis(const char *host, int port, int db, const char *password,
                              const char *prefix, uint32_t connect_timeout_ms,
                              uint32_t timeout_ms, uint32_t retry_ms, char *err, size_t errlen);
void eh_kv_store_retain(eh_kv_store *s);
void eh_kv_store_release(eh_kv_store *s);
const char *eh_kv_store_describe(eh_kv_store *s);
const char *eh_kv_store_backend(eh_kv_store *s);
uint32_t eh_kv_store_max_key(eh_kv_store *s);
uint64_t eh_kv_store_syncs(eh_kv_store *s);
/* 0, or 1 with the last background failure (a flush to disk, a lost server) in out. */
int eh_kv_store_health(eh_kv_store *s, char *out, size_t cap);
/* LMDB: bytes of the data file in use (up to its last page); 0 for the others. */
uint64_t eh_kv_store_file_used(eh_kv_store *s);
int32_t eh_kv_store_tenants(eh_kv_store *s, uint8_t **out, uint64_t *len);

eh_kv_ns *eh_kv_ns_open(eh_kv_store *s, const char *tenant, uint64_t max_bytes, int durable,
                        char *err, size_t errlen);
void eh_kv_ns_retain(eh_kv_ns *ns);
void eh_kv_ns_release(eh_kv_ns *ns);
int32_t eh_kv_ns_get(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap);
int32_t eh_kv_ns_put(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                     uint32_t vlen);
int32_t eh_kv_ns_delete(eh_kv_ns *ns, const uint8_t *key, uint32_t klen);
int32_t eh_kv_ns_stats(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes);
int32_t eh_kv_ns_keys(eh_kv_ns *ns, uint8_t **out, uint64_t *len);
int32_t eh_kv_ns_drop(eh_kv_ns *ns);
const char *eh_kv_last_error(void);
void eh_kv_free(void *p);

/* The tenant's store (wasmhost/hostapi_kv.c): takes a reference to ns and
 * releases the one it held. */
void eh_tenant_set_kv(eh_tenant *t, eh_kv_ns *ns);
#endif
