/* The bench-only latency loops (latency.c); see build_bench.py. */
#ifndef EH_VMM_BENCH_LATENCY_H
#define EH_VMM_BENCH_LATENCY_H
#include <stddef.h>
#include <stdint.h>
#include "eh_offload_sink.h"

typedef eh_offload_status (*eh_bench_run_fn)(eh_vm *vm, const eh_offload_req *req,
                                             eh_offload_res *res, uint64_t deadline_ns,
                                             char *err, size_t errlen);
typedef eh_offload_status (*eh_bench_park_fn)(eh_vm *vm, uint32_t timeout_ms);
typedef void (*eh_bench_kernel_fn)(const eh_offload_req *req, eh_offload_res *res);

/* n calls of run(vm, req) (eh_vm_offload); with park (eh_vm_wait_parked)
 * each call waits for the guest to park first (the cold path). */
eh_offload_status eh_bench_calls(eh_bench_run_fn run, eh_bench_park_fn park, eh_vm *vm,
                                 const eh_offload_req *req, uint32_t n, uint64_t *lat_ns,
                                 char *err, size_t errlen);
/* n in-process calls of kernel(req) (eh_kernel_run). */
void eh_bench_inproc(eh_bench_kernel_fn kernel, const eh_offload_req *req, uint32_t n,
                     uint64_t *lat_ns);
#endif
