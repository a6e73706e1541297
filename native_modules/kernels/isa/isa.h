/* The instruction-set levels per-ISA kernel files are compiled for.
 *
 * For each x86-64 level, one line says what the compiler may use inside a
 * file of that level (EH_ISA_<L>_TARGET, enabled by begin.h) and one what a
 * CPU must have to run it (EH_ISA_<L>_NEEDS, EH_CPU_* bits the variant tables
 * require). Both are written here only, so a variant is never selected on a
 * CPU that lacks an instruction its code was allowed to use.
 *
 *   PORTABLE        plain C (scalar, swar; wasm32 without SIMD)
 *   SIMD128         WebAssembly SIMD (wasm32 built with -msimd128)
 *   SSE42           crc32, POPCNT (Nehalem class)
 *   CLMUL           + PCLMULQDQ (Westmere class)
 *   AVX2            + AVX, AVX2, FMA, BMI1/2 (Haswell, Zen 1/2)
 *   AVX2_VPCLMUL    + VPCLMULQDQ on ymm (Zen 3, Ice Lake client, Alder Lake)
 *   AVX512          + AVX-512 F/BW/VL/DQ (Skylake-SP class)
 *   AVX512_VPCLMUL  + VPCLMULQDQ on zmm (Ice Lake SP, Zen 4)
 *
 * EH_ISA_COMPILED(L) is 1 when this build compiles code of level L (x86-64
 * levels only on x86-64, SIMD128 only with -msimd128); a variant table lists
 * every variant and gives the others needs EH_ISA_NEVER (never runnable). */
#ifndef EH_KERNELS_ISA_H
#define EH_KERNELS_ISA_H
#include "kernels/dispatch.h"

#define EH_ISA_PORTABLE 0
#define EH_ISA_SIMD128 1
#define EH_ISA_SSE42 2
#define EH_ISA_CLMUL 3
#define EH_ISA_AVX2 4
#define EH_ISA_AVX2_VPCLMUL 5
#define EH_ISA_AVX512 6
#define EH_ISA_AVX512_VPCLMUL 7

#define EH_ISA_NEVER (~0ull)

#define EH_ISA_SSE42_TARGET "sse4.2,popcnt"
#define EH_ISA_CLMUL_TARGET "sse4.2,popcnt,pclmul"
#define EH_ISA_AVX2_TARGET "sse4.2,pclmul,popcnt,avx,avx2,fma,bmi,bmi2"
#define EH_ISA_AVX2_VPCLMUL_TARGET "sse4.2,pclmul,popcnt,avx,avx2,fma,bmi,bmi2,vpclmulqdq"
#define EH_ISA_AVX512_TARGET \
    "sse4.2,pclmul,popcnt,avx,avx2,fma,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq"
#define EH_ISA_AVX512_VPCLMUL_TARGET \
    "sse4.2,pclmul,popcnt,avx,avx2,fma,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,vpclmulqdq"

#define EH_ISA_SSE42_NEEDS_ (EH_CPU_SSE42 | EH_CPU_POPCNT)
#define EH_ISA_CLMUL_NEEDS_ (EH_ISA_SSE42_NEEDS_ | EH_CPU_PCLMUL)
#define EH_ISA_AVX2_NEEDS_ \
    (EH_ISA_CLMUL_NEEDS_ | EH_CPU_AVX | EH_CPU_AVX2 | EH_CPU_FMA | EH_CPU_BMI1 | EH_CPU_BMI2)
#define EH_ISA_AVX512_NEEDS_ \
    (EH_ISA_AVX2_NEEDS_ | EH_CPU_AVX512F | EH_CPU_AVX512BW | EH_CPU_AVX512VL | EH_CPU_AVX512DQ)

#ifdef __x86_64__
#define EH_ISA_X86 1
#define EH_ISA_SSE42_NEEDS EH_ISA_SSE42_NEEDS_
#define EH_ISA_CLMUL_NEEDS EH_ISA_CLMUL_NEEDS_
#define EH_ISA_AVX2_NEEDS EH_ISA_AVX2_NEEDS_
#define EH_ISA_AVX2_VPCLMUL_NEEDS (EH_ISA_AVX2_NEEDS_ | EH_CPU_VPCLMULQDQ)
#define EH_ISA_AVX512_NEEDS EH_ISA_AVX512_NEEDS_
#define EH_ISA_AVX512_VPCLMUL_NEEDS (EH_ISA_AVX512_NEEDS_ | EH_CPU_VPCLMULQDQ)
#else
#define EH_ISA_X86 0
#define EH_ISA_SSE42_NEEDS EH_ISA_NEVER
#define EH_ISA_CLMUL_NEEDS EH_ISA_NEVER
#define EH_ISA_AVX2_NEEDS EH_ISA_NEVER
#define EH_ISA_AVX2_VPCLMUL_NEEDS EH_ISA_NEVER
#define EH_ISA_AVX512_NEEDS EH_ISA_NEVER
#define EH_ISA_AVX512_VPCLMUL_NEEDS EH_ISA_NEVER
#endif

#ifdef __wasm_simd128__
#define EH_ISA_SIMD128_NEEDS 0ull /* selected over the portable variants where it exists */
#else
#define EH_ISA_SIMD128_NEEDS EH_ISA_NEVER
#endif

#define EH_ISA_COMPILED(level)                                                         \
    ((level) == EH_ISA_PORTABLE || ((level) == EH_ISA_SIMD128 && EH_ISA_SIMD128_NEEDS == 0) || \
     ((level) >= EH_ISA_SSE42 && EH_ISA_X86))

#endif
