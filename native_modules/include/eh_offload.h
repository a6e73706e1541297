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

/* Kernel ids are part of the tenant ABI (wasm_config/abi.py mirrors them). */
enum eh_kernel_id {
    EH_KERNEL_NOP = 0,           /* returns value = 0; the latency probe            */
    EH_KERNEL_CRC32C = 1,        /* arg0 = seed; value = crc                        */
    EH_KERNEL_CSV_INDEX = 2,     /* see kernels/csv                                 */
    EH_KERNEL_CSV_FIELDS = 3,    /* unescaped field values                          */
    EH_KERNEL_JSON_VALIDATE = 4, /* value = 0; err_offset on failure                */
    EH_KERNEL_JSON_MINIFY = 5,
    EH_KERNEL_JSON_POINTER = 6,  /* in2 = RFC 6901 pointer                           */
    EH_KERNEL_VEC_DOT = 7,
    EH_KERNEL_VEC_AXPY = 8,
    EH_KERNEL_VEC_SUM = 9,
    EH_KERNEL_VEC_L2NORM = 10,
    EH_KERNEL_VEC_L2SQ = 11,
    EH_KERNEL_VEC_COSINE = 12,
    EH_KERNEL_VEC_MATVEC = 13,
    EH_KERNEL_VEC_TOPK = 14,
    EH_KERNEL_STREAM = 15,       /* STREAM copy/scale/add/triad, for the benchmark  */
    EH_KERNEL_COUNT
};

/* Status codes (eh_offload_res.status). 0 is success; all errors are < 0. */
enum eh_kernel_status {
    EH_K_OK = 0,
    EH_K_EINVAL = -1,       /* bad arguments (lengths, flags, dialect); never the
                               buffers' alignment: kernels take any address      */
    EH_K_ENOSPC = -2,       /* out_cap too small; out_len holds the size needed   */
    EH_K_EPARSE = -3,       /* malformed input; err_offset = byte offset, arg kind */
    EH_K_ENOTSUP = -4,      /* unknown kernel id or variant                        */
    EH_K_EDEPTH = -5,       /* nesting deeper than the limit                       */
    EH_K_ENOTFOUND = -6,    /* e.g. JSON pointer names no value                    */
};

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

typedef struct eh_offload_res {
    int32_t status;     /* enum eh_kernel_status                              */
    uint32_t detail;    /* kernel-specific error kind                         */
    uint64_t value;     /* scalar result (crc, count, float bits, ...)        */
    uint64_t out_len;   /* bytes written to out (or needed, on ENOSPC)        */
    uint64_t err_offset;/* byte offset of a parse error                       */
} eh_offload_res;

_Static_assert(sizeof(eh_offload_req) == 88, "eh_offload_req layout is ABI");
_Static_assert(sizeof(eh_offload_res) == 32, "eh_offload_res layout is ABI");

/* Runs one kernel. Implemented once (kernels/dispatch.c) and linked into the
 * host module, the guest image and the wasm32 benchmark build. */
void eh_kernel_run(const eh_offload_req *req, eh_offload_res *res);

#endif
