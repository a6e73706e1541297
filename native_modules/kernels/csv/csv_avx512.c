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
/* Separator positions by dword compress, 16 mask bits at a time, each group
 * stored whole (64 bytes): branch-free, needs the same 64 free entries. */
#define CSV_HAVE_FLATTEN 1
static inline void csv_flatten_fast(uint32_t *o, uint32_t base, uint64_t m, int cnt)
{
    (void)cnt;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int)base), iota);
    for (int g = 0; g < 4; g++) {
        __mmask16 k = (__mmask16)(m >> (16 * g));
        _mm512_storeu_si512((void *)o, _mm512_maskz_compress_epi32(k, pos));
        o += _mm_popcnt_u32(k);
        pos = _mm512_add_epi32(pos, _mm512_set1_epi32(16));
    }
}
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
