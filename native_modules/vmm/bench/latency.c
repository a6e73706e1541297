/*
 * Latency loops for `edgehost bench`, in C so that no Python frame sits
 * inside a measured call. Built into the bench-only extension
 * edgehost.native_modules._bench (build_bench.py), never into _native: the
 * loops call the production monitor and kernels through function pointers
 * Python takes from _native (ffi.addressof), typed by the headers both
 * modules share. Each loop writes one latency (ns) per call.
 */
#define _GNU_SOURCE
#include <time.h>
#include "vmm/bench/latency.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

eh_offload_status eh_bench_calls(eh_bench_run_fn run, eh_bench_park_fn park, eh_vm *vm,
                                 const eh_offload_req *req, uint32_t n, uint64_t *lat_ns,
                                 char *err, size_t errlen)
{
    eh_offload_res res;
    for (uint32_t i = 0; i < n; i++) {
        if (park && park(vm, 1000) != EH_OFFLOAD_OK)
            return EH_OFFLOAD_TIMEOUT;
        uint64_t t0 = now_ns();
        eh_offload_status rc = run(vm, req, &res, 0, err, errlen);
        lat_ns[i] = now_ns() - t0;
        if (rc != EH_OFFLOAD_OK)
            return rc;
    }
    return EH_OFFLOAD_OK;
}

void eh_bench_inproc(eh_bench_kernel_fn kernel, const eh_offload_req *req, uint32_t n,
                     uint64_t *lat_ns)
{
    eh_offload_res res;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        kernel(req, &res);
        lat_ns[i] = now_ns() - t0;
    }
}
