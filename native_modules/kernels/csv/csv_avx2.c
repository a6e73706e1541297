/* CSV indexing, AVX2: a 64-byte block is two 32-byte halves whose compare
 * results are packed into 64-bit masks. */
#include "kernels/csv/csv.h"

#ifdef __x86_64__
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,pclmul,bmi,bmi2,popcnt"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,pclmul,bmi,bmi2,popcnt")
#endif
#include <immintrin.h>
static inline uint64_t csv_prefix_xor(uint64_t x)
{
    __m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)x), _mm_set1_epi8(-1), 0);
    return (uint64_t)_mm_cvtsi128_si64(r);
}
static inline uint64_t csv_tz(uint64_t x) { return _tzcnt_u64(x); }
static inline uint64_t csv_blsr(uint64_t x) { return _blsr_u64(x); }
static inline int csv_popcnt(uint64_t x) { return (int)_mm_popcnt_u64(x); }
#include "kernels/csv/csv_simd.h"

static inline uint64_t eq64(__m256i lo, __m256i hi, uint8_t c)
{
    __m256i k = _mm256_set1_epi8((char)c);
    uint32_t a = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, k));
    uint32_t b = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, k));
    return (uint64_t)a | ((uint64_t)b << 32);
}

static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q, csv_masks *m)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 32));
    m->q = eq64(lo, hi, q);
    m->d = eq64(lo, hi, d);
    m->n = eq64(lo, hi, '\n');
    m->r = eq64(lo, hi, '\r');
}

void eh_csv_index_avx2(eh_csv_scan *s) { csv_simd_index(s); }

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
void eh_csv_index_avx2(eh_csv_scan *s) { eh_csv_index_scalar(s); }
#endif
