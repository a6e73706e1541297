/* AVX-512 vector ops: zmm, mask registers for the tails.
 * The operations are vector_tpl.h over vector_simd.h, float32 then float64. */
#define EH_ISA EH_ISA_AVX512
#include "kernels/isa/begin.h"
#include "kernels/vector/vector.h"
#if EH_ISA_ON
#include "kernels/vector/vector_simd.h"
#define VEC_ISA avx512
#define VEC_F64 0
#include "kernels/vector/vector_tpl.h"
#define VEC_F64 1
#include "kernels/vector/vector_tpl.h"
#endif
#include "kernels/isa/end.h"
