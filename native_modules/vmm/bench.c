/*
 * Latency loops for `edgehost bench offload`, in C so that no Python frame
 * sits inside a measured call. Each loop writes one latency (ns) per call.
 */
#define _GNU_SOURCE
#include <string.h>
#include "kernels/dispatch.h"
#include "vmm/vmm_internal.h"

int eh_vm_bench_calls(eh_vm *vm, const eh_offload_req *req, uint32_t n, int cold,
                      uint64_t *lat_ns, char *err, size_t errlen)
{
    return eh_vm_bench_calls_in(vm, req, NULL, 0, n, cold, lat_ns, err, errlen);
}

int eh_vm_bench_calls_in(eh_vm *vm, const eh_offload_req *req, const void *mem, uint64_t mem_len,
                         uint32_t n, int cold, uint64_t *lat_ns, char *err, size_t errlen)
{
    eh_offload_res res;
    for (uint32_t i = 0; i < n; i++) {
        if (cold && eh_vm_wait_parked(vm, 1000)) {
            EH_ERR(err, errlen, "guest did not park within 1 s");
            return EH_VM_ETIMEOUT;
        }
        uint64_t t0 = eh_now_ns();
        int rc = eh_vm_offload_in(vm, req, &res, mem, mem_len, err, errlen);
        lat_ns[i] = eh_now_ns() - t0;
        if (rc)
            return rc;
    }
    return 0;
}

void eh_vm_bench_inproc(const eh_offload_req *req, uint32_t n, uint64_t *lat_ns)
{
    eh_offload_res res;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t0 = eh_now_ns();
        eh_kernel_run(req, &res);
        lat_ns[i] = eh_now_ns() - t0;
    }
}
