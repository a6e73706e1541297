/* Callbacks of the edgehost.* imports (one per row of registry.c). */
#ifndef EH_IMPORTS_H
#define EH_IMPORTS_H
#include "wasmhost/hostapi.h"

#define EH_IMPORT(name)                                                                  \
    wasm_trap_t *eh_imp_##name(void *env, wasmtime_caller_t *caller,                     \
                               wasmtime_val_raw_t *args, size_t nargs_)
EH_IMPORT(abi_nop);
EH_IMPORT(log);
EH_IMPORT(time_monotonic_ns);
EH_IMPORT(time_wall_ns);
EH_IMPORT(random_fill);
EH_IMPORT(crc32c);
EH_IMPORT(config_get);
EH_IMPORT(kv_get);
EH_IMPORT(kv_put);
EH_IMPORT(kv_delete);
EH_IMPORT(request_method);
EH_IMPORT(request_path);
EH_IMPORT(request_query);
EH_IMPORT(request_header);
EH_IMPORT(request_headers);
EH_IMPORT(request_body);
EH_IMPORT(response_set_status);
EH_IMPORT(response_set_header);
EH_IMPORT(response_set_body);
EH_IMPORT(offload);
#undef EH_IMPORT

#define EH_IMPORT_DEF(name)                                                              \
    wasm_trap_t *eh_imp_##name(void *env, wasmtime_caller_t *caller,                     \
                               wasmtime_val_raw_t *args, size_t nargs_)

/* Runs one kernel for inst's tenant: allowed-kernel check, then the tenant's
 * offload sink (kvm) or in process. 0, or <0 with inst->error set. */
int eh_tenant_run_kernel(const eh_mem *m, const eh_offload_req *req, eh_offload_res *res);
#endif
