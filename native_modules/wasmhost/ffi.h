/* What Python may call in the WASM host data plane (mirrored in ffi.cdef). */
#ifndef EH_WASMHOST_FFI_H
#define EH_WASMHOST_FFI_H
#include "wasmhost/hostapi.h"
#include "wasmhost/pool.h"
#include "wasmhost/slots.h"
#include "wasmhost/wasmtime_c.h"

typedef struct eh_ticker eh_ticker;

void eh_config_tune(void *config, int epoch, int fuel, uint32_t pool_instances,
                    uint64_t pool_max_memory, uint64_t pool_keep_resident);
eh_ticker *eh_ticker_start(void *engine, uint32_t period_us, int realtime);
void eh_ticker_stop(eh_ticker *t);

eh_tenant *eh_tenant_new(void *engine, void *module, const char *name, const eh_limits *limits,
                         char *err, size_t errlen);
void eh_tenant_free(eh_tenant *t);
int eh_tenant_set_config(eh_tenant *t, uint32_t count, const char *const *keys,
                         const uint32_t *key_lens, const uint8_t *const *vals,
                         const uint32_t *val_lens);
void eh_tenant_set_kernels(eh_tenant *t, uint64_t allowed_mask);
void eh_tenant_set_guest(eh_tenant *t, struct eh_vm *vm);
int eh_tenant_log_drain(eh_tenant *t, eh_log_entry *out, int max, uint64_t *dropped);
uint64_t eh_tenant_log_pending(eh_tenant *t);
void eh_tenant_kv_stats(eh_tenant *t, uint64_t *count, uint64_t *bytes);

/* NULL with err and *kind (enum eh_trap_kind) set when no instance could
 * be made: EH_TRAP_INSTANCES / EH_TRAP_SLOTS when there is no room
 * (wasmhost/slots.h), else how instantiation failed. */
eh_instance *eh_instance_new(eh_tenant *t, int *kind, char *err, size_t errlen);
void eh_instance_free(eh_instance *inst);
/* Index of handler export `name` for eh_instance_handle*, or a negative
 * enum eh_export_error. */
enum eh_export_error { EH_EXPORT_MISSING = -1, EH_EXPORT_NO_MEMORY = -2 };
int eh_instance_export(eh_instance *inst, const char *name);
int eh_instance_call(eh_instance *inst, int idx, uint64_t *vals, uint32_t nvals);
int eh_instance_handle(eh_instance *inst, int idx, const eh_request *req, int32_t *status);
/* The same with the request field by field: its buffers need only live for
 * this call (the handler runs inside it), so callers pass bytes straight in. */
int eh_instance_handle_parts(eh_instance *inst, int idx, const char *method,
                            uint32_t method_len, const char *path, uint32_t path_len,
                            const char *query, uint32_t query_len, const char *headers,
                            uint32_t headers_len, const char *body, uint32_t body_len,
                            int32_t *status);
uint8_t *eh_instance_memory(eh_instance *inst, uint64_t *size);
const uint8_t *eh_instance_response(eh_instance *inst, int32_t *http_status, uint32_t *body_len,
                                    const char **headers, uint32_t *headers_len);
const char *eh_instance_error(eh_instance *inst, int *kind);
/* How long after its deadline the check stopped the last call (ns), or -1
 * when the last call did not hit its deadline. */
int64_t eh_instance_deadline_overshoot_ns(eh_instance *inst);

uint32_t eh_abi_import_count(void);
const char *eh_abi_import(uint32_t i, const char **params, const char **results);

/* Snapshots: a configured instance's exported numeric global (returns its
 * WASMTIME_I32.. kind, -1 if absent), its input buffer; the input buffer a
 * snapshot module's new instances start with. */
int eh_instance_global_get(eh_instance *inst, const char *name, uint64_t *bits);
void eh_instance_input_buffer(eh_instance *inst, uint32_t *ptr, uint32_t *cap);
void eh_tenant_set_input_buffer(eh_tenant *t, uint32_t ptr, uint32_t cap);
/* instance = "fresh" on a write-tracking module (fresh.c): the memory image
 * and mutable globals (export names, raw bits) its instances are put back
 * to after each request, and the export name of its dirty map. -1: out of
 * memory or a length that is not whole pages. */
int eh_tenant_set_fresh_image(eh_tenant *t, const uint8_t *memory, uint64_t len,
                              const char *map_export, uint32_t nglobals,
                              const char *const *global_names, const uint64_t *global_bits);

#endif
