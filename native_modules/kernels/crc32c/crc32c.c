/* CRC32C family: the variant table, selection, and the kernel entry
 * (EH_KERNEL_CRC32C: in/in_len = data, arg[0] = seed, value = crc). */
#include "kernels/crc32c/crc32c.h"
#include "kernels/dispatch.h"
#include "kernels/isa/isa.h"

/* Generic first; each later entry needs more of the CPU. Index-aligned with fns. */
static const eh_variant_desc variants[] = {
    {"byte", 0},
    {"slice8", 0},
    {"slice16", 0},
#if EH_ISA_X86 /* needs: what the file's ISA region may use (isa.h) */
    {"sse42", EH_ISA_SSE42_NEEDS},
    {"pclmul", EH_ISA_CLMUL_NEEDS},
    {"fold256", EH_ISA_AVX2_VPCLMUL_NEEDS}, /* measurement only: avx2 follows it */
    {"avx2", EH_ISA_AVX2_VPCLMUL_NEEDS},
    {"avx512", EH_ISA_AVX512_VPCLMUL_NEEDS},
#endif
};
static const eh_crc32c_fn fns[] = {
    eh_crc32c_byte,
    eh_crc32c_slice8,
    eh_crc32c_slice16,
#if EH_ISA_X86
    eh_crc32c_sse42,
    eh_crc32c_pclmul,
    eh_crc32c_fold256,
    eh_crc32c_avx2,
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
