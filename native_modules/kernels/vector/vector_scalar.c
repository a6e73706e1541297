/* Portable vector ops: eight lanes of plain C the compiler vectorizes (the wasm32
 * build's path without SIMD, and CPUs without AVX2).
 * The operations are vector_tpl.h over vector_simd.h, float32 then float64. */
#define EH_ISA EH_ISA_PORTABLE
#include "kernels/isa/begin.h"
#include "kernels/vector/vector.h"
#if EH_ISA_ON
#include "kernels/vector/vector_simd.h"
#define VEC_ISA scalar
#define VEC_F64 0
#include "kernels/vector/vector_tpl.h"
#define VEC_F64 1
#include "kernels/vector/vector_tpl.h"
#endif
#include "kernels/isa/end.h"
