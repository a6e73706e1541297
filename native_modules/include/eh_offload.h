/*
 * eh_offload.h -- the one request/response shape every native kernel is
 * called with, wherever it runs: in the host process ("inproc"), inside a
 * tenant's KVM guest ("kvm"), or compiled to wasm32 for the benchmarks.
 *
 * Invariants:
 *  - The struct layouts are fixed-size, pointer-free (addresses are uint64_t
 *    in the *executing* address space) and identical on x86-64 host and guest,
 *    so the VMM can copy a request into the guest's call window unchanged
 *    after rewriting the three address fields.
 *  - A kernel reads only [in, in+in_len) and [in2, in2+in2_len) and writes only
 *    [out, out+out_cap). Callers validate those ranges before the call.
 *  - Kernels are freestanding: no libc, no allocation, no syscalls.
 */
#ifndef EH_OFFLOAD_H
#define EH_OFFLOAD_H

#include <stdint.h>

#define EH_OFFLOAD_ABI_VERSION 1u

/* Kernel ids (enum eh_kernel_id), statuses (enum eh_kernel_status) and the
 * result struct (eh_offload_res) are tenant ABI: generated from
 * wasm_config/abi.py into eh_abi.h. */
#include "eh_abi.h"

typedef struct eh_offload_req {
    uint32_t kernel;   /* enum eh_kernel_id                                   */
    uint32_t flags;    /* kernel-specific                                     */
    uint64_t arg[4];   /* kernel-specific scalars                             */
    uint64_t in;       /* primary input                                       */
    uint64_t in_len;
    uint64_t in2;      /* secondary input (pointer string, query vector, ...) */
    uint64_t in2_len;
    uint64_t out;      /* output buffer                                       */
    uint64_t out_cap;
} eh_offload_req;

_Static_assert(sizeof(eh_offload_req) == 88, "eh_offload_req layout is ABI");

/* Runs one kernel. Implemented once (kernels/dispatch.c) and linked into the
 * host module, the guest image and the wasm32 benchmark build. */
void eh_kernel_run(const eh_offload_req *req, eh_offload_res *res);

#endif
