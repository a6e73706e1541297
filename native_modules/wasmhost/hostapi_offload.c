/* edgehost.offload(req_ptr, res_ptr) and every kernel call of a tenant: the
 * door from a tenant to the native kernels. The request in linear memory
 * uses 32-bit offsets (eh_wasm_offload_req); every range is checked,
 * translated to host pointers, and handed to the tenant's offload sink
 * (include/eh_offload_sink.h): its KVM guest, or this process. Either way
 * the call is bounded by what is left of the caller's deadline.
 *
 * What a sink's status becomes (one table, abi_result(); the compiler checks
 * it covers every status):
 *   OK         the kernel ran; its own status is in the result
 *   TIMEOUT    the caller's deadline passed during the kernel call: the
 *              request is over, so the import TRAPS with kind "deadline"
 *              (edgehost.offload and edgehost.crc32c alike, as wasm code
 *              that runs past deadline_ms traps)
 *   FAULT      the guest faulted (it was replaced): EH_ERR_GUEST_FAULT
 *   TOO_LARGE  inputs + output exceed the guest's memory: EH_ERR_QUOTA
 *   INVALID    EH_ERR_INVALID
 *   SYSTEM     KVM / OS failure: EH_ERR_UNAVAILABLE
 * edgehost.crc32c has no status to return: any failure traps there. */
#include <stdio.h>
#include <string.h>
#include "wasmhost/imports.h"

/* eh_wasm_offload_req, the layout in tenant memory, is generated into eh_abi.h. */

static int abi_result(eh_offload_status s)
{
    switch (s) {
    case EH_OFFLOAD_OK:
        return 0;
    case EH_OFFLOAD_TIMEOUT:
        return EH_ERR_TIMEOUT;
    case EH_OFFLOAD_FAULT:
        return EH_ERR_GUEST_FAULT;
    case EH_OFFLOAD_TOO_LARGE:
        return EH_ERR_QUOTA;
    case EH_OFFLOAD_INVALID:
        return EH_ERR_INVALID;
    case EH_OFFLOAD_SYSTEM:
        return EH_ERR_UNAVAILABLE;
    }
    return EH_ERR_UNAVAILABLE;
}

/* The sink sees the instance's linear memory (it may read inputs there in
 * place); a memory that moved or grew is shown again, and the old one is
 * forgotten first. */
static void attach_memory(eh_instance *inst, const eh_tenant *t, const eh_mem *m)
{
    if (inst->attached_mem == m->base && inst->attached_len == m->size &&
        inst->attached_vm == t->vm)
        return;
    if (inst->attached_mem && inst->attached_mem != m->base && inst->attached_sink->detach)
        inst->attached_sink->detach(inst->attached_vm, inst->attached_mem);
    inst->attached_sink = t->sink;
    inst->attached_vm = t->vm;
    inst->attached_mem = m->base;
    inst->attached_len = m->size;
    if (t->sink->attach)
        t->sink->attach(t->vm, m->base, m->size); /* best effort: else inputs are copied */
}

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
    /* Where a kernel may write in the tenant's memory: its output range
     * (a guest sees that memory read-only, vmm/windows.c; the monitor copies
     * the output there, vmm/call.c; a kernel in process writes it in place). */
    if (req->out_cap)
        eh_fresh_mark(inst, (uint32_t)(req->out - (uintptr_t)m->base), req->out_cap);
    int64_t t0 = eh_now_mono_ns();
    attach_memory(inst, t, m);
    eh_offload_status s = t->sink->run(t->vm, req, res, inst->deadline_at_ns, inst->error,
                                       sizeof inst->error);
    inst->offload_ns += (uint64_t)(eh_now_mono_ns() - t0);
    if (s != EH_OFFLOAD_OK)
        inst->offload_fail = s;
    if (s == EH_OFFLOAD_TIMEOUT)
        inst->import_trap_kind = EH_TRAP_DEADLINE;
    return abi_result(s);
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
    if (rc == EH_ERR_TIMEOUT)
        return eh_trap_msg("edgehost.offload: %s", m.inst->error);
    if (rc < 0) {
        args[0].i32 = rc;
        return NULL;
    }
    /* A kernel never reports more output than fits, except as the size
     * needed with ENOSPC; clamp anyway so a buggy kernel cannot mislead. */
    if (res.status == EH_K_OK && res.out_len > w.out_cap)
        res.out_len = w.out_cap;
    memcpy(rs, &res, sizeof res);
    eh_fresh_mark(m.inst, A(1), sizeof res);
    args[0].i32 = 0;
    return NULL;
}
