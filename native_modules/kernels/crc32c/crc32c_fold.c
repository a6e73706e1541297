/* Computes the folding constants (crc32c_fold.h) from the polynomial at init,
 * so no magic numbers need trusting. Plain C: runs everywhere. */
#include "kernels/crc32c/crc32c.h"
#include "kernels/crc32c/crc32c_fold.h"

eh_crc32c_k eh_crc32c_kdist[EH_CRC32C_KDIST];
uint32_t eh_crc32c_kshift[EH_CRC32C_HYB_MAXM + 1];
uint32_t eh_crc32c_kshift8[EH_CRC32C_TAIL_MAXJ + 1];

static eh_crc32c_k k_for(uint64_t bytes)
{
    uint64_t n = 8 * bytes;
    eh_crc32c_k k = {eh_crc32c_fold_k(64 + n - 1), eh_crc32c_fold_k(n - 1)};
    return k;
}

void eh_crc32c_fold_init(void)
{
    for (int i = 0; i < EH_CRC32C_KDIST; i++)
        eh_crc32c_kdist[i] = k_for(16u << i);
    /* kshift[m] = x^(8 m SB - 33): kshift[1] directly, then times x^(8 SB). */
    uint32_t step = eh_crc32c_xpow(8 * EH_CRC32C_HYB_SB);
    eh_crc32c_kshift[0] = 0;
    eh_crc32c_kshift[1] = eh_crc32c_xpow(8 * EH_CRC32C_HYB_SB - 33);
    for (int m = 2; m <= EH_CRC32C_HYB_MAXM; m++)
        eh_crc32c_kshift[m] = eh_crc32c_mulmod(eh_crc32c_kshift[m - 1], step);
    uint32_t x64 = eh_crc32c_xpow(64);
    eh_crc32c_kshift8[0] = 0;
    eh_crc32c_kshift8[1] = eh_crc32c_xpow(64 - 33);
    for (int j = 2; j <= EH_CRC32C_TAIL_MAXJ; j++)
        eh_crc32c_kshift8[j] = eh_crc32c_mulmod(eh_crc32c_kshift8[j - 1], x64);
}
