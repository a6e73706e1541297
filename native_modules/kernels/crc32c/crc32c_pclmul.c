/* CRC32C by SSE PCLMULQDQ folding beside the crc32 instruction: the hybrid
 * template (crc32c_fold_tpl.h) on xmm -- per step four 16-byte lanes advance
 * 64 bytes while three crc32 chains take 40 bytes each. Folding alone loses
 * to crc32 on CPUs whose multiplier issues every other cycle, so what the
 * passes leave takes the crc32 path. Also home of eh_crc32c_tail3_raw, the
 * short-input path every folding variant ends with. */
#define EH_ISA EH_ISA_CLMUL
#include "kernels/isa/begin.h"
#if EH_ISA_ON
#define CRC_VW 16
#define CRC_MIN_STEPS 4
#define CRC_FOLD_ONLY 0
#define CRC_FN eh_crc32c_pclmul
#include "kernels/crc32c/crc32c_fold_tpl.h"

/* Short inputs and tails (up to 3 KiB): three crc32 chains over thirds of a
 * multiple of 24 bytes, merged by clmul shifts -- the 3-way idea of the
 * SSE4.2 variant without its per-length tables; under 192 bytes one chain. */
uint32_t eh_crc32c_tail3_raw(uint32_t r, const uint8_t *p, uint64_t n)
{
    if (n < 192)
        return eh_crc32c_sse42_raw(r, p, n);
    uint64_t j = n / 24 < EH_CRC32C_TAIL_MAXJ ? n / 24 : EH_CRC32C_TAIL_MAXJ;
    uint64_t len = 8 * j, c0 = r, c1 = 0, c2 = 0;
    for (uint64_t i = 0; i < len; i += 8) {
        c0 = _mm_crc32_u64(c0, ld64(p + i));
        c1 = _mm_crc32_u64(c1, ld64(p + len + i));
        c2 = _mm_crc32_u64(c2, ld64(p + 2 * len + i));
    }
    uint32_t k = eh_crc32c_kshift8[j];
    r = shift((uint32_t)c0, k) ^ (uint32_t)c1;
    r = shift(r, k) ^ (uint32_t)c2;
    return eh_crc32c_sse42_raw(r, p + 3 * len, n - 3 * len);
}
#endif
#include "kernels/isa/end.h"
