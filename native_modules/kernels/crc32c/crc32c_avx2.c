/* CRC32C by VPCLMULQDQ folding on ymm beside the crc32 instruction: the
 * hybrid template (crc32c_fold_tpl.h) with four 32-byte accumulators (128
 * bytes per step) -- for CPUs with VPCLMULQDQ but no AVX-512 (Zen 3). */
#define EH_ISA EH_ISA_AVX2_VPCLMUL
#include "kernels/isa/begin.h"
#if EH_ISA_ON
#define CRC_VW 32
#define CRC_MIN_STEPS 8
#define CRC_FOLD_ONLY 1
#define CRC_FN eh_crc32c_avx2
#include "kernels/crc32c/crc32c_fold_tpl.h"
#endif
#include "kernels/isa/end.h"
