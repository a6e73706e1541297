/* Callbacks of the edgehost.* imports (one per row of the generated import
 * table) and the helpers they share. */
#ifndef EH_IMPORTS_H
#define EH_IMPORTS_H
#include "wasmhost/hostapi.h"

/* One callback per row of the generated import table (eh_abi.h). */
#define EH_IMPORT_DECL(name, params, results)                                            \
    wasm_trap_t *eh_imp_##name(void *env, wasmtime_caller_t *caller,                     \
                               wasmtime_val_raw_t *args, size_t nargs_);
EH_ABI_IMPORTS(EH_IMPORT_DECL)
#undef EH_IMPORT_DECL

/* The i-th argument of an import as i32 (every edgehost parameter is one). */
#define A(i) (args[i].i32)

/* Declares `uint8_t *var` = the host address of [p, p+l) in m, or returns the
 * trap naming `import` when the range is outside linear memory. */
#define EH_RANGE_OR_TRAP(import, m, p, l, var)                                           \
    uint8_t *var = eh_mem_range(&(m), (uint32_t)(p), (uint32_t)(l));                     \
    if (!var)                                                                            \
    return eh_trap_range(import, (uint32_t)(p), (uint32_t)(l), (m).size)

#define EH_IMPORT_DEF(name)                                                              \
    wasm_trap_t *eh_imp_##name(void *env, wasmtime_caller_t *caller,                     \
                               wasmtime_val_raw_t *args, size_t nargs_)

/* Runs one kernel for inst's tenant: allowed-kernel check, then the tenant's
 * offload sink (kvm) or in process. 0, or <0 with inst->error set. */
int eh_tenant_run_kernel(const eh_mem *m, const eh_offload_req *req, eh_offload_res *res);
#endif
