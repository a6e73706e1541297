/* CRC32C by VPCLMULQDQ folding on ymm alone, without the crc32 streams:
 * the carry-less multiplier's own throughput, which the benchmark sets next
 * to the crc32 unit's (sse42) to show what the hybrid avx2 variant can reach.
 * Listed before avx2 with the same needs, so never chosen automatically. */
#define EH_ISA EH_ISA_AVX2_VPCLMUL
#include "kernels/isa/begin.h"
#if EH_ISA_ON
#define CRC_VW 32
#define CRC_MIN_STEPS UINT64_MAX /* no hybrid pass: folding, then the tail */
#define CRC_FOLD_ONLY 1
#define CRC_FN eh_crc32c_fold256
#include "kernels/crc32c/crc32c_fold_tpl.h"
#endif
#include "kernels/isa/end.h"
