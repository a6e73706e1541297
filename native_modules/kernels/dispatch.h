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

/* Array elements read or written at any address (a typedef's alignment
 * attribute lowers it): kernels take their buffers wherever the caller put
 * them -- a KVM call relocates small ones to aligned scratch, an in-process
 * call does not, and both must give the same answer. */
typedef uint32_t eh_u32 __attribute__((aligned(1)));
typedef float eh_f32 __attribute__((aligned(1)));
typedef double eh_f64 __attribute__((aligned(1)));

/* CPU features the kernels dispatch on, set by eh_cpu_detect only where the
 * CPU has the feature AND the OS enables the registers it uses (XCR0: ymm
 * state for the VEX-256 ones, opmask/zmm state for AVX-512). The one list:
 * the EH_CPU_* bits and the names `edgehost doctor` prints both come from it
 * (X(NAME, bit, "name")); bits are part of the guest layout (cpu_features). */
#define EH_CPU_FEATURES(X)                 \
    X(SSE42, 0, "sse4.2")                  \
    X(PCLMUL, 1, "pclmulqdq")              \
    X(AVX2, 2, "avx2")                     \
    X(BMI2, 3, "bmi2")                     \
    X(AVX512F, 4, "avx512f")               \
    X(AVX512BW, 5, "avx512bw")             \
    X(AVX512VL, 6, "avx512vl")             \
    X(VPCLMULQDQ, 7, "vpclmulqdq")         \
    X(AVX512DQ, 8, "avx512dq")             \
    X(FMA, 9, "fma")                       \
    X(BMI1, 10, "bmi1")                    \
    X(POPCNT, 11, "popcnt")                \
    X(AVX, 12, "avx")                      \
    X(VAES, 13, "vaes")

#define EH_CPU_BIT_(name, bit, str) EH_CPU_##name = 1ull << bit,
enum eh_cpu_feature { EH_CPU_FEATURES(EH_CPU_BIT_) };
#undef EH_CPU_BIT_

/* The name of feature bit `bit` ("vpclmulqdq"), or NULL for an unused bit. */
const char *eh_cpu_feature_name(unsigned bit);

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
