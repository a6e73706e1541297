/* CSV indexing, AVX-512BW: one 64-byte block per iteration, four byte
 * compares straight into mask registers; separator positions by dword
 * compress (eh_flatten). */
#define EH_ISA EH_ISA_AVX512
#include "kernels/isa/begin.h"
#include "kernels/csv/csv.h"
#if EH_ISA_ON
#include "kernels/csv/csv_simd.h"

static inline void csv_classify(const uint8_t *p, uint8_t d, uint8_t q, csv_masks *m)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    m->q = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)q));
    m->d = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)d));
    m->n = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\n'));
    m->r = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\r'));
}

CSV_SIMD_VARIANT(eh_csv_index_avx512)
#endif
#include "kernels/isa/end.h"
