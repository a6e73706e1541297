/* Host-process initialisation: CPU detection plus the EDGEHOST_KERNEL_VARIANT
 * override. Not linked into the guest (no getenv there): the VMM passes the
 * same two values through the call window instead. */
#include <stdlib.h>
#include "kernels/dispatch.h"

void eh_kernels_init(void)
{
    eh_kernels_init_with(eh_cpu_detect(), getenv("EDGEHOST_KERNEL_VARIANT"));
}

/* Fills a request from host pointers in one call (the Python wrappers would
 * otherwise pay a cffi conversion per field). */
void eh_req_fill(eh_offload_req *r, uint32_t kernel, uint32_t flags, const void *in,
                 uint64_t in_len, const void *in2, uint64_t in2_len, void *out, uint64_t out_cap)
{
    r->kernel = kernel;
    r->flags = flags;
    r->in = (uint64_t)(uintptr_t)in;
    r->in_len = in_len;
    r->in2 = (uint64_t)(uintptr_t)in2;
    r->in2_len = in2_len;
    r->out = (uint64_t)(uintptr_t)out;
    r->out_cap = out_cap;
}
