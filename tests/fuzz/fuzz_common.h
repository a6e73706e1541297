/* Shared by the kernel fuzz targets: the variant list of this CPU, weak stubs
 * for kernel families a target does not link, and a checked allocation of
 * exactly n input bytes (so ASan flags any read past the end). */
#ifndef EH_FUZZ_COMMON_H
#define EH_FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/dispatch.h"
#include "fuzz_check.h"

#define WEAK __attribute__((weak))
WEAK void eh_crc32c_init(uint64_t c, const char *f) { (void)c; (void)f; }
WEAK void eh_crc32c_run(const eh_offload_req *q, eh_offload_res *r) { (void)q; (void)r; }
WEAK void eh_vector_init(uint64_t c, const char *f) { (void)c; (void)f; }
WEAK void eh_vector_run(const eh_offload_req *q, eh_offload_res *r) { (void)q; (void)r; }
WEAK void eh_stream_run(const eh_offload_req *q, eh_offload_res *r) { (void)q; (void)r; }
WEAK void eh_csv_init(uint64_t c, const char *f) { (void)c; (void)f; }
WEAK void eh_csv_run(const eh_offload_req *q, eh_offload_res *r) { (void)q; (void)r; }
WEAK void eh_json_init(uint64_t c, const char *f) { (void)c; (void)f; }
WEAK void eh_json_run(const eh_offload_req *q, eh_offload_res *r) { (void)q; (void)r; }

#define FUZZ_CHECK(cond, ...) FUZZ_CHECK_AS("", cond, __VA_ARGS__)

/* Dispatch tables for this CPU, once per process. */
static inline void fuzz_init(void)
{
    static int ready;
    if (!ready) {
        eh_kernels_init_with(eh_cpu_detect(), 0);
        ready = 1;
    }
}

static inline int same_res(const eh_offload_res *a, const eh_offload_res *b)
{
    return a->status == b->status && a->detail == b->detail && a->value == b->value &&
           a->out_len == b->out_len && a->err_offset == b->err_offset;
}

/* The differential check of the csv and json targets: the first variant
 * this CPU runs is the reference (its result and its output, kept until
 * variant_ref_free); every later one must give the same result fields and,
 * when it succeeds, the same output bytes. */
typedef struct {
    int have;
    eh_offload_res first;
    uint8_t *out0, *base0; /* the reference output and its allocation */
} variant_ref;

/* Checks one variant's res and out (inside the allocation base, which this
 * takes over: kept as the reference or freed). */
static inline void variant_ref_check(variant_ref *ref, const char *name, const eh_offload_res *res,
                                     uint8_t *out, uint8_t *base)
{
    if (!ref->have) {
        ref->first = *res;
        ref->out0 = out;
        ref->base0 = base;
        ref->have = 1;
        return;
    }
    FUZZ_CHECK(same_res(&ref->first, res), "variant %s differs: %d/%d %u/%u %llu/%llu", name,
               ref->first.status, res->status, ref->first.detail, res->detail,
               (unsigned long long)ref->first.err_offset, (unsigned long long)res->err_offset);
    if (res->status == EH_K_OK)
        FUZZ_CHECK(memcmp(ref->out0, out, res->out_len) == 0, "variant %s output differs", name);
    free(base);
}

static inline void variant_ref_free(variant_ref *ref) { free(ref->base0); }

static inline void run_req(uint32_t kernel, uint32_t flags, const uint64_t arg[4],
                           const uint8_t *in, uint64_t n, const uint8_t *in2, uint64_t n2,
                           uint8_t *out, uint64_t cap, eh_offload_res *res)
{
    eh_offload_req q;
    memset(&q, 0, sizeof q);
    q.kernel = kernel;
    q.flags = flags;
    for (int i = 0; i < 4; i++)
        q.arg[i] = arg[i];
    q.in = (uintptr_t)in;
    q.in_len = n;
    q.in2 = (uintptr_t)in2;
    q.in2_len = n2;
    q.out = (uintptr_t)out;
    q.out_cap = cap;
    memset(res, 0, sizeof *res);
    eh_kernel_run(&q, res);
}

#endif
