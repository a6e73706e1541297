/* The tenant benchmark's "own code" path (host/bench/tenant.py): the very
 * kernel sources the host and the KVM guest run, compiled INTO the tenant
 * (wasm32, a scalar or a -msimd128 build) and called directly, with no host
 * import on the way. Linked with bench_tenant.c, never natively.
 *
 * Kept apart from bench_tenant.c because the SDK header (edgehost.h) and
 * eh_offload.h both define the kernel ids and statuses; the two files meet
 * only through the plain-argument function below. */
#include <stdint.h>
#include "eh_offload.h"
#include "kernels/dispatch.h"

/* Portable variants only (wasm32 has no CPUID); -msimd128 builds pick their
 * SIMD128 variants by themselves. Idempotent. */
void eh_bench_local_init(void) { eh_kernels_init_with(0, 0); }

/* Runs one kernel on wasm32 addresses. `res` is the caller's ABI
 * eh_offload_result, whose layout is eh_offload_res's (both 32 bytes:
 * i32 status, u32 detail, u64 value, out_len, err_offset). */
void eh_bench_local(uint32_t kernel, uint32_t flags, uint64_t arg0, uint64_t arg1, uint32_t in,
                    uint32_t in_len, uint32_t in2, uint32_t in2_len, uint32_t out,
                    uint32_t out_cap, void *res)
{
    eh_offload_req rq = {kernel, flags, {arg0, arg1, 0, 0}, in, in_len, in2, in2_len, out,
                         out_cap};
    eh_offload_res *r = res;
    *r = (eh_offload_res){0};
    eh_kernel_run(&rq, r);
}
