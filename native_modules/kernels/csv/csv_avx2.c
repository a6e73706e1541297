/* CSV indexing, AVX2: a 64-byte block is two 32-byte halves whose compare
 * results are packed into 64-bit masks. */
#define EH_ISA EH_ISA_AVX2
#include "kernels/isa/begin.h"
#include "kernels/csv/csv.h"
#if EH_ISA_ON
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

CSV_SIMD_VARIANT(eh_csv_index_avx2)
#endif
#include "kernels/isa/end.h"
