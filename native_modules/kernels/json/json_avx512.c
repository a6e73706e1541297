/* JSON stage 1 and minify, AVX-512BW: one 64-byte block per vector; the
 * whitespace and operator classes by one vpshufb each, UTF-8 by three. */
#define EH_ISA EH_ISA_AVX512
#include "kernels/isa/begin.h"
#include "kernels/json/json.h"
#if EH_ISA_ON
#include "kernels/json/json_utf8_tables.h"

static inline __m512i tbl(const uint8_t *t)
{
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

typedef struct {
    __m512i prev;
    int incomplete;
} u8state;

static inline void u8_load(u8state *u, const json_s1 *s)
{
    u->prev = _mm512_load_si512((const void *)s->prev_block);
    u->incomplete = s->prev_incomplete != 0;
}

static inline void u8_store(const u8state *u, json_s1 *s)
{
    _mm512_store_si512((void *)s->prev_block, u->prev);
    s->prev_incomplete = (uint64_t)u->incomplete;
}

static inline int u8_block(u8state *u, const uint8_t *p)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    int err;
    if (!_mm512_movepi8_mask(v)) {
        err = u->incomplete;
        u->incomplete = 0;
    } else {
        __m512i t = _mm512_alignr_epi32(v, u->prev, 12); /* lane i-1 under lane i */
        __m512i e = EH_U8_ERRORS_X86(_mm512, si512, __m512i, tbl, v, t);
        err = _mm512_test_epi8_mask(e, e) != 0;
        u->incomplete = (p[63] >= 0xC0) | (p[62] >= 0xE0) | (p[61] >= 0xF0);
    }
    u->prev = v;
    return err;
}

static inline int u8_eof(const u8state *u) { return u->incomplete; }

/* Minify: 16 bytes at a time widened to dwords, compressed by their 16 keep
 * bits, narrowed back and stored whole (AVX-512F/BW have no byte compress). */
#define JSON_HAVE_COMPRESS_BLOCK 1
static inline uint64_t json_compress_block(uint8_t *dst, const uint8_t *p, uint64_t keep)
{
    uint64_t o = 0;
    for (int g = 0; g < 4; g++) {
        __mmask16 k = (__mmask16)(keep >> (16 * g));
        __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * g)));
        _mm_storeu_si128((__m128i *)(dst + o), _mm512_cvtepi32_epi8(_mm512_maskz_compress_epi32(k, d)));
        o += (uint64_t)_mm_popcnt_u32(k);
    }
    return o;
}

#include "kernels/json/json_stage1_impl.h"

static inline void json_classify(const uint8_t *p, json_masks *m)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    __m512i v20 = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
    m->bs = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
    m->quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
    m->ws = _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(tbl(json_ws_lut), v), v);
    m->ops = _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(tbl(json_op_lut), v20), v20);
    m->ctrl = _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20));
}

JSON_VARIANT(avx512)
#endif
#include "kernels/isa/end.h"
