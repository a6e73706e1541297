/* guestcall: one kernel call per request, in the tenant's own KVM guest.
 *
 * /stream runs a STREAM copy over 4 KiB (the call a faulting test image of
 * the guest turns into a CPU exception: tests/reliability/kvm/
 * test_serve_guest_fault.py); /crc answers the body's CRC32C as 8 hex
 * digits. Any failure of the call (EH_ERR_GUEST_FAULT among them) ends the
 * handler with a non-zero status: the server's 5xx for the call's cause. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

#define N 4096u

static uint8_t src[N], dst[N];

EDGEHOST_HANDLER(stream)
{
    for (uint32_t i = 0; i < N; i++)
        src[i] = (uint8_t)i;
    eh_offload_result res;
    eh_offload_request rq = {EH_KERNEL_STREAM, 0, {0, 1, 0, 0},
                             (uint32_t)(uintptr_t)src, N, 0, 0,
                             (uint32_t)(uintptr_t)dst, N};
    int32_t rc = eh_offload(&rq, &res);
    if (rc != 0)
        return 1;
    if (res.status != 0 || dst[N - 1] != (uint8_t)(N - 1))
        return 2;
    return eh_respond_str("copied");
}

EDGEHOST_HANDLER(crc)
{
    char out[8];
    eh_hex32(eh_crc32c(in, in_len, 0), out);
    return eh_respond(out, 8);
}
