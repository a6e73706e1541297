/* JSON stage 1 and minify, AVX2: a 64-byte block is two 32-byte halves whose
 * compare results are packed into 64-bit masks; UTF-8 is checked per half. */
#define EH_ISA EH_ISA_AVX2
#include "kernels/isa/begin.h"
#include "kernels/json/json.h"
#if EH_ISA_ON
#include "kernels/json/json_utf8_tables.h"

static inline uint32_t json_compress8(uint8_t *dst, uint64_t w, uint32_t keep8)
{
    uint64_t sel = _pdep_u64(keep8, 0x0101010101010101ull) * 0xff;
    uint64_t v = _pext_u64(w, sel);
    __builtin_memcpy(dst, &v, 8);
    return (uint32_t)_mm_popcnt_u32(keep8);
}

static inline __m256i tbl(const uint8_t *t)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

static inline uint64_t pack(__m256i lo, __m256i hi)
{
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(lo) |
           ((uint64_t)(uint32_t)_mm256_movemask_epi8(hi) << 32);
}

typedef struct {
    __m256i prev; /* the previous 32 bytes */
    int incomplete;
} u8state;

static inline void u8_load(u8state *u, const json_s1 *s)
{
    u->prev = _mm256_loadu_si256((const __m256i *)(s->prev_block + 32));
    u->incomplete = s->prev_incomplete != 0;
}

static inline void u8_store(const u8state *u, json_s1 *s)
{
    _mm256_storeu_si256((__m256i *)(s->prev_block + 32), u->prev);
    s->prev_incomplete = (uint64_t)u->incomplete;
}

static inline __m256i u8_half(__m256i v, __m256i prev)
{
    __m256i t = _mm256_permute2x128_si256(prev, v, 0x21); /* lane i-1 under lane i */
    return EH_U8_ERRORS_X86(_mm256, si256, __m256i, tbl, v, t);
}

static inline int u8_block(u8state *u, const uint8_t *p)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 32));
    int err;
    if (!_mm256_movemask_epi8(_mm256_or_si256(lo, hi))) {
        err = u->incomplete;
        u->incomplete = 0;
    } else {
        __m256i e = _mm256_or_si256(u8_half(lo, u->prev), u8_half(hi, lo));
        err = !_mm256_testz_si256(e, e);
        u->incomplete = (p[63] >= 0xC0) | (p[62] >= 0xE0) | (p[61] >= 0xF0);
    }
    u->prev = hi;
    return err;
}

static inline int u8_eof(const u8state *u) { return u->incomplete; }

#include "kernels/json/json_stage1_impl.h"

static inline void json_classify(const uint8_t *p, json_masks *m)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 32));
    const __m256i k20 = _mm256_set1_epi8(0x20);
    __m256i lo20 = _mm256_or_si256(lo, k20), hi20 = _mm256_or_si256(hi, k20);
    const __m256i bs = _mm256_set1_epi8('\\'), qt = _mm256_set1_epi8('"');
    m->bs = pack(_mm256_cmpeq_epi8(lo, bs), _mm256_cmpeq_epi8(hi, bs));
    m->quote = pack(_mm256_cmpeq_epi8(lo, qt), _mm256_cmpeq_epi8(hi, qt));
    m->ws = pack(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(json_ws_lut), lo), lo),
                 _mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(json_ws_lut), hi), hi));
    m->ops = pack(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(json_op_lut), lo20), lo20),
                  _mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(json_op_lut), hi20), hi20));
    /* c < 0x20 unsigned  <=>  max(c, 0x1f) == 0x1f */
    const __m256i k1f = _mm256_set1_epi8(0x1f);
    m->ctrl = pack(_mm256_cmpeq_epi8(_mm256_max_epu8(lo, k1f), k1f),
                   _mm256_cmpeq_epi8(_mm256_max_epu8(hi, k1f), k1f));
}

JSON_VARIANT(avx2)
#endif
#include "kernels/isa/end.h"
