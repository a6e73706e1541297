/* overrun: a kernel call sized so that it cannot end inside the tenant's
 * 50 ms guest time limit, however fast the machine.
 *
 * STREAM triad over three arrays of 8 Mi doubles (64 MiB each: 192 MiB, more
 * than any core's share of a last-level cache), 1000 repetitions: 24 bytes
 * per element per repetition, 201 GB in all. At 50 GB/s (a fast core's
 * DRAM bandwidth, AVX-512 included) that is 4 s, 80x the limit; even at
 * 500 GB/s, more than an L1 cache moves per core, it is 0.4 s, 8x. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

EDGEHOST_HANDLER(slowkernel)
{
    uint32_t n = 64u << 20; /* bytes per array */
    uint8_t *buf = eh_scratch(3 * n);
    if (!buf)
        return 2;
    eh_offload_result res;
    eh_offload_request rq = {EH_KERNEL_STREAM, 0, {3, 1000, 0, 0},
                             (uint32_t)(uintptr_t)buf, n,
                             (uint32_t)(uintptr_t)(buf + n), n,
                             (uint32_t)(uintptr_t)(buf + 2 * n), n};
    int32_t rc = eh_offload(&rq, &res);
    if (rc != 0)
        return 1; /* TIMEOUT (kvm) or another refusal */
    return eh_respond_str("kernel returned");
}
