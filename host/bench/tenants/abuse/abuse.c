/* abuse: every handler misbehaves; the server must contain each one. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

EDGEHOST_HANDLER(spin)
{
    volatile uint32_t x = 0;
    for (;;)
        x++;
    return 0;
}

/* Grows memory until the cap refuses, then gives up (a trap). */
EDGEHOST_HANDLER(bomb)
{
    while (__builtin_wasm_memory_grow(0, 16) != (__SIZE_TYPE__)-1) {
    }
    __builtin_trap();
    return 0;
}

EDGEHOST_HANDLER(boom)
{
    __builtin_trap();
    return 0;
}

/* STREAM copy of 16 MiB, 1000 times: ~1 s of work (32 GB/s) for a 200 ms
 * deadline. */
EDGEHOST_HANDLER(slowkernel)
{
    uint32_t n = 16u << 20;
    uint8_t *buf = eh_scratch(2 * n);
    if (!buf)
        return 2;
    eh_offload_result res;
    eh_offload_request rq = {EH_KERNEL_STREAM, 0, {0, 1000, 0, 0}, (uint32_t)(uintptr_t)buf, n,
                             0, 0, (uint32_t)(uintptr_t)(buf + n), n};
    int32_t rc = eh_offload(&rq, &res);
    if (rc != 0)
        return 1; /* TIMEOUT (kvm) or another refusal */
    return eh_respond_str("kernel returned");
}

EDGEHOST_HANDLER(fail)
{
    return 7;
}
