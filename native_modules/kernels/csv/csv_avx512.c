/* CSV indexing, AVX-512BW: one 64-byte block per iteration, four byte
 * compares straight into mask registers. */
#include "kernels/csv/csv.h"

#ifdef __x86_64__
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,pclmul,bmi,bmi2,popcnt"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,pclmul,bmi,bmi2,popcnt")
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

static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q, csv_masks *m)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    m->q = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)q));
    m->d = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)d));
    m->n = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\n'));
    m->r = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\r'));
}

void eh_csv_index_avx512(eh_csv_scan *s) { csv_simd_index(s); }

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
void eh_csv_index_avx512(eh_csv_scan *s) { eh_csv_index_scalar(s); }
#endif
