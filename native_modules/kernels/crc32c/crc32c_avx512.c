/* CRC32C by VPCLMULQDQ folding on zmm beside the crc32 instruction: the
 * hybrid template (crc32c_fold_tpl.h) with four 64-byte accumulators (256
 * bytes per step) -- for CPUs with AVX-512 and VPCLMULQDQ. */
#define EH_ISA EH_ISA_AVX512_VPCLMUL
#include "kernels/isa/begin.h"
#if EH_ISA_ON
#define CRC_VW 64
#define CRC_MIN_STEPS 8
#define CRC_FOLD_ONLY 1
#define CRC_FN eh_crc32c_avx512
#include "kernels/crc32c/crc32c_fold_tpl.h"
#endif
#include "kernels/isa/end.h"
