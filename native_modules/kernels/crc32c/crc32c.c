/* CRC32C family: the variant table, selection, and the kernel entry
 * (EH_KERNEL_CRC32C: in/in_len = data, arg[0] = seed, value = crc). */
#include "kernels/crc32c/crc32c.h"
#include "kernels/dispatch.h"

/* Generic first; each later entry needs more of the CPU. Index-aligned with fns. */
static const eh_variant_desc variants[] = {
    {"byte", 0},
    {"slice8", 0},
    {"slice16", 0},
#ifdef __x86_64__
    {"sse42", EH_CPU_SSE42},
    {"pclmul", EH_CPU_SSE42 | EH_CPU_PCLMUL},
    {"avx512", EH_CPU_SSE42 | EH_CPU_PCLMUL | EH_CPU_AVX512F | EH_CPU_AVX512VL |
                   EH_CPU_VPCLMULQDQ},
#endif
};
static const eh_crc32c_fn fns[] = {
    eh_crc32c_byte,
    eh_crc32c_slice8,
    eh_crc32c_slice16,
#ifdef __x86_64__
    eh_crc32c_sse42,
    eh_crc32c_pclmul,
    eh_crc32c_avx512,
#endif
};
#define NVAR ((int)(sizeof variants / sizeof variants[0]))
_Static_assert(sizeof variants / sizeof variants[0] == sizeof fns / sizeof fns[0],
               "variants and fns are index-aligned");

static uint64_t cpu_seen;
/* The active variant's index. Set by init / set_variant, read by every call:
 * relaxed atomics, so switching variants while other threads run is safe
 * (each call sees the old or the new index, both valid). */
static int active;

static inline int cur(void) { return __atomic_load_n(&active, __ATOMIC_RELAXED); }

void eh_crc32c_init(uint64_t cpu, const char *force)
{
    eh_crc32c_generic_init();
    eh_crc32c_sse42_init();
    eh_crc32c_fold_init();
    cpu_seen = cpu;
    int v = eh_variant_select(variants, NVAR, cpu, "crc32c", force);
    __atomic_store_n(&active, v, __ATOMIC_RELAXED);
}

int eh_crc32c_set_variant(const char *name)
{
    int i = eh_variant_find(variants, NVAR, cpu_seen, name);
    if (i < 0)
        return -1;
    __atomic_store_n(&active, i, __ATOMIC_RELAXED);
    return 0;
}

const char *eh_crc32c_variant(void) { return variants[cur()].name; }

const char *eh_crc32c_variant_name(int i) { return i >= 0 && i < NVAR ? variants[i].name : 0; }

int eh_crc32c_variant_ok(int i)
{
    return i >= 0 && i < NVAR && !(variants[i].needs & ~cpu_seen);
}

uint32_t eh_crc32c(uint32_t seed, const uint8_t *p, uint64_t n) { return fns[cur()](seed, p, n); }

void eh_crc32c_run(const eh_offload_req *req, eh_offload_res *res)
{
    if (req->arg[0] > 0xffffffffu) {
        res->status = EH_K_EINVAL;
        return;
    }
    res->value = fns[cur()]((uint32_t)req->arg[0], (const uint8_t *)(uintptr_t)req->in,
                             req->in_len);
}
