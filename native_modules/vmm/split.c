/*
 * Requests whose inputs do not fit the guest's scratch memory, where the
 * kernel allows it, run as several calls over pieces that do fit:
 *
 *   EH_KERNEL_CRC32C  (no in2, no output) -- pieces of the input in order,
 *                     each call's CRC the next one's seed (arg[0]): the
 *                     result is the CRC of the whole input.
 *
 * Every other kernel needs its whole input at once (or, for CSV, a split
 * point only its own state machine can find) and is refused with
 * EH_OFFLOAD_TOO_LARGE and the limit. The pieces share the caller's
 * deadline; the first failing piece ends the request.
 */
#define _GNU_SOURCE
#include <string.h>
#include "vmm/vmm_internal.h"

/* Largest piece of input that fits with nothing else in scratch. */
static uint64_t piece_max(const eh_vm *vm)
{
    uint64_t lo = 0, hi = vm->cfg.mem_bytes;
    while (lo + 1 < hi) { /* eh_vm_fits is monotonic in in_len */
        uint64_t mid = lo + (hi - lo) / 2;
        if (eh_vm_fits(vm, mid, 0, 0))
            lo = mid;
        else
            hi = mid;
    }
    return lo & ~(uint64_t)4095;
}

int eh_split_ok(const eh_offload_req *req)
{
    return req->kernel == EH_KERNEL_CRC32C && !req->in2_len && !req->out_cap;
}

eh_offload_status eh_split_run(eh_vm *vm, eh_call_fn call1, const eh_offload_req *req,
                               eh_offload_res *res, uint64_t deadline_ns, char *err,
                               size_t errlen)
{
    uint64_t piece = piece_max(vm), done = 0;
    eh_offload_req r = *req;
    memset(res, 0, sizeof *res);
    res->value = req->arg[0];
    while (done < req->in_len) {
        r.in = req->in + done;
        r.in_len = req->in_len - done < piece ? req->in_len - done : piece;
        r.arg[0] = res->value;
        eh_offload_status rc = call1(vm, &r, res, deadline_ns, err, errlen);
        if (rc != EH_OFFLOAD_OK || res->status != EH_K_OK)
            return rc;
        done += r.in_len;
    }
    return EH_OFFLOAD_OK;
}
