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
