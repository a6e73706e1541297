/* edgehost.offload(req_ptr, res_ptr): the door from a tenant to the native
 * kernels. The request in linear memory uses 32-bit offsets
 * (eh_wasm_offload_req); every range is checked, translated to host
 * pointers, and run under the tenant's isolation: its KVM guest when an
 * offload sink is installed, otherwise in process. */
#include <stdio.h>
#include <string.h>
#include "wasmhost/imports.h"

/* eh_wasm_offload_req, the layout in tenant memory, is generated into eh_abi.h. */

/* Runs req for the instance whose memory is m (the caller's, already resolved). */
int eh_tenant_run_kernel(const eh_mem *m, const eh_offload_req *req, eh_offload_res *res)
{
    eh_instance *inst = m->inst;
    eh_tenant *t = inst->tenant;
    if (req->kernel >= 64 || !(t->allowed_kernels & (1ull << req->kernel))) {
        const char *name = eh_kernel_name(req->kernel);
        if (name)
            snprintf(inst->error, sizeof inst->error,
                     "kernel %s is not allowed for tenant %s (not in its manifest's kernels)",
                     name, t->name);
        else
            snprintf(inst->error, sizeof inst->error, "no kernel has id %u", req->kernel);
        return EH_ERR_DENIED;
    }
    inst->offload_calls++;
    int64_t t0 = eh_now_mono_ns();
    if (!t->offload) {
        eh_kernel_run(req, res);
        inst->offload_ns += (uint64_t)(eh_now_mono_ns() - t0);
        return 0;
    }
    if (inst->forget && inst->forget_mem && inst->forget_mem != m->base) /* the memory moved */
        inst->forget(inst->forget_ctx, inst->forget_mem);
    inst->forget = t->offload_forget;
    inst->forget_ctx = t->offload_ctx;
    inst->forget_mem = m->base;
    int rc = t->offload(t->offload_ctx, req, res, m->base, m->size, inst->error,
                        sizeof inst->error);
    inst->offload_ns += (uint64_t)(eh_now_mono_ns() - t0);
    if (rc < 0)
        inst->offload_fail = rc;
    if (rc == 0)
        return 0;
    if (rc == EH_OFFLOAD_TIMEOUT)
        return EH_ERR_TIMEOUT;
    if (rc == EH_OFFLOAD_TOO_LARGE)
        return EH_ERR_INVALID;
    return EH_ERR_GUEST_FAULT;
}

EH_IMPORT_DEF(offload)
{
    eh_mem m = eh_caller_mem(caller);
    uint8_t *rq = eh_mem_range(&m, A(0), sizeof(eh_wasm_offload_req));
    if (!rq)
        return eh_trap_range("offload", A(0), sizeof(eh_wasm_offload_req), m.size);
    uint8_t *rs = eh_mem_range(&m, A(1), sizeof(eh_offload_res));
    if (!rs)
        return eh_trap_range("offload", A(1), sizeof(eh_offload_res), m.size);
    eh_wasm_offload_req w;
    memcpy(&w, rq, sizeof w);
    uint8_t *in = eh_mem_range(&m, w.in, w.in_len);
    uint8_t *in2 = eh_mem_range(&m, w.in2, w.in2_len);
    uint8_t *out = eh_mem_range(&m, w.out, w.out_cap);
    if (!in)
        return eh_trap_range("offload(in)", w.in, w.in_len, m.size);
    if (!in2)
        return eh_trap_range("offload(in2)", w.in2, w.in2_len, m.size);
    if (!out)
        return eh_trap_range("offload(out)", w.out, w.out_cap, m.size);
    eh_offload_req req = {
        .kernel = w.kernel, .flags = w.flags,
        .arg = {w.arg[0], w.arg[1], w.arg[2], w.arg[3]},
        .in = (uintptr_t)in, .in_len = w.in_len,
        .in2 = (uintptr_t)in2, .in2_len = w.in2_len,
        .out = (uintptr_t)out, .out_cap = w.out_cap,
    };
    eh_offload_res res;
    memset(&res, 0, sizeof res);
    int rc = eh_tenant_run_kernel(&m, &req, &res);
    if (rc < 0) {
        args[0].i32 = rc;
        return NULL;
    }
    /* A kernel never reports more output than fits, except as the size
     * needed with ENOSPC; clamp anyway so a buggy kernel cannot mislead. */
    if (res.status == EH_K_OK && res.out_len > w.out_cap)
        res.out_len = w.out_cap;
    memcpy(rs, &res, sizeof res);
    args[0].i32 = 0;
    return NULL;
}
