/* Kernel families and the one dispatcher.
 *
 * Each family (crc32c/, csv/, json/, vector/, stream/) owns:
 *   void eh_<family>_init(uint64_t cpu, const char *force);  fills its table,
 *        generic first, upgraded by the EH_CPU_* bits in cpu; force (may be
 *        NULL) pins a variant (see "Variant forcing" below).
 *   void eh_<family>_run(const eh_offload_req *, eh_offload_res *);
 *   int  eh_<family>_set_variant(const char *name);  0, or -1 when the name is
 *        unknown or this CPU lacks its features (the active variant is kept).
 *   const char *eh_<family>_variant(void);           the active variant's name.
 *   const char *eh_<family>_variant_name(int i);     i-th variant, generic
 *        first; NULL past the end.  int eh_<family>_variant_ok(int i): 1 when
 *        the CPU given to init has what variant i needs.
 * All of it is freestanding (no libc): the same files link into the host
 * module, the KVM guest image and the wasm32 benchmark build.
 *
 * Variant forcing (EDGEHOST_KERNEL_VARIANT in the host; the VMM hands the same
 * string to the guest): a comma-separated list of items, no spaces.
 *   family=variant   pins that family, e.g. "crc32c=sse42,vector=avx2"
 *   variant          pins every family that has a variant of that name,
 *                    e.g. "scalar" or "avx2"
 * A pin naming a variant this CPU cannot run is ignored (the family keeps its
 * best variant); callers that must know read eh_<family>_variant(). */
#ifndef EH_KERNELS_DISPATCH_H
#define EH_KERNELS_DISPATCH_H
#include <stdint.h>
#include "eh_offload.h"

#define EH_CPU_SSE42      (1ull << 0)
#define EH_CPU_PCLMUL     (1ull << 1)
#define EH_CPU_AVX2       (1ull << 2)
#define EH_CPU_BMI2       (1ull << 3)
#define EH_CPU_AVX512F    (1ull << 4)
#define EH_CPU_AVX512BW   (1ull << 5)
#define EH_CPU_AVX512VL   (1ull << 6)
#define EH_CPU_VPCLMULQDQ (1ull << 7)
#define EH_CPU_AVX512DQ   (1ull << 8)
#define EH_CPU_FMA        (1ull << 9)

/* CPUID + XGETBV (OS-enabled state included). Works in host and guest ring 3. */
uint64_t eh_cpu_detect(void);

/* One variant of a family: its name and the EH_CPU_* bits it needs. */
typedef struct eh_variant_desc {
    const char *name;
    uint64_t needs;
} eh_variant_desc;

/* The variant index a family should use: the one force pins for family (when
 * the CPU has what it needs), else the last entry whose needs cpu meets.
 * v[0] must need nothing, so the result is always a valid index. */
int eh_variant_select(const eh_variant_desc *v, int n, uint64_t cpu, const char *family,
                      const char *force);

/* Index of the variant called name, or -1 if unknown or not runnable on cpu. */
int eh_variant_find(const eh_variant_desc *v, int n, uint64_t cpu, const char *name);

/* The variant state every family keeps, written once. Expects, before use,
 * `variants` (eh_variant_desc[]) and `NVAR` (its length). Defines the
 * family's set_variant / variant / variant_name / variant_ok and a static
 * `variant_init(cpu, force)` for its init. `active` is read with relaxed
 * atomics, so switching variants while other threads run is safe (each call
 * sees the old or the new index, both valid). */
#define EH_VARIANT_STATE(family)                                                          \
    static uint64_t cpu_seen;                                                             \
    static int active;                                                                    \
    static inline int cur(void) { return __atomic_load_n(&active, __ATOMIC_RELAXED); }    \
    static void variant_init(uint64_t cpu, const char *force)                             \
    {                                                                                     \
        cpu_seen = cpu;                                                                   \
        int v = eh_variant_select(variants, NVAR, cpu, #family, force);                   \
        __atomic_store_n(&active, v, __ATOMIC_RELAXED);                                   \
    }                                                                                     \
    int eh_##family##_set_variant(const char *name)                                       \
    {                                                                                     \
        int i = eh_variant_find(variants, NVAR, cpu_seen, name);                          \
        if (i < 0)                                                                        \
            return -1;                                                                    \
        __atomic_store_n(&active, i, __ATOMIC_RELAXED);                                   \
        return 0;                                                                         \
    }                                                                                     \
    const char *eh_##family##_variant(void) { return variants[cur()].name; }              \
    const char *eh_##family##_variant_name(int i)                                         \
    {                                                                                     \
        return i >= 0 && i < NVAR ? variants[i].name : 0;                                 \
    }                                                                                     \
    int eh_##family##_variant_ok(int i)                                                   \
    {                                                                                     \
        return i >= 0 && i < NVAR && !(variants[i].needs & ~cpu_seen);                   \
    }


/* Runs the same request n times (benchmarks: one call from Python, the host
 * API, the guest or WASM measures the kernel, not the call path). */
void eh_kernel_run_many(const eh_offload_req *req, eh_offload_res *res, uint64_t n);

/* Host only (dispatch_host.c): fill a request from host pointers in one call. */
void eh_req_fill(eh_offload_req *r, uint32_t kernel, uint32_t flags, const void *in,
                 uint64_t in_len, const void *in2, uint64_t in2_len, void *out, uint64_t out_cap);

/* Initialise every family. Idempotent; call before concurrent use. */
void eh_kernels_init_with(uint64_t cpu, const char *force);

void eh_crc32c_init(uint64_t cpu, const char *force);
void eh_crc32c_run(const eh_offload_req *req, eh_offload_res *res);
void eh_csv_init(uint64_t cpu, const char *force);
void eh_csv_run(const eh_offload_req *req, eh_offload_res *res);
void eh_json_init(uint64_t cpu, const char *force);
void eh_json_run(const eh_offload_req *req, eh_offload_res *res);
void eh_vector_init(uint64_t cpu, const char *force);
void eh_vector_run(const eh_offload_req *req, eh_offload_res *res);
void eh_stream_run(const eh_offload_req *req, eh_offload_res *res);

#endif
