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

EH_VARIANT_STATE(crc32c)

void eh_crc32c_init(uint64_t cpu, const char *force)
{
    eh_crc32c_generic_init();
    eh_crc32c_sse42_init();
    eh_crc32c_fold_init();
    variant_init(cpu, force);
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
