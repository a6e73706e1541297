/* JSON stage 1 and minify, AVX-512BW: one 64-byte block per vector; the
 * whitespace and operator classes by one vpshufb each, UTF-8 by three. */
#include "kernels/json/json.h"

#ifdef __x86_64__
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,pclmul,bmi,bmi2,popcnt"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,pclmul,bmi,bmi2,popcnt")
#endif
#include <immintrin.h>
#include "kernels/json/json_utf8_tables.h"

static inline uint64_t json_prefix_xor(uint64_t x)
{
    __m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)x), _mm_set1_epi8(-1), 0);
    return (uint64_t)_mm_cvtsi128_si64(r);
}
static inline uint64_t json_tz(uint64_t x) { return _tzcnt_u64(x); }
static inline uint64_t json_blsr(uint64_t x) { return _blsr_u64(x); }
static inline int json_popcnt(uint64_t x) { return (int)_mm_popcnt_u64(x); }

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
        const __m512i nib = _mm512_set1_epi8(0x0f);
        __m512i t = _mm512_alignr_epi32(v, u->prev, 12); /* lane i-1 under lane i */
        __m512i p1 = _mm512_alignr_epi8(v, t, 15);
        __m512i p2 = _mm512_alignr_epi8(v, t, 14);
        __m512i p3 = _mm512_alignr_epi8(v, t, 13);
        __m512i e = _mm512_and_si512(
            _mm512_and_si512(
                _mm512_shuffle_epi8(tbl(eh_u8_hi1), _mm512_and_si512(_mm512_srli_epi16(p1, 4), nib)),
                _mm512_shuffle_epi8(tbl(eh_u8_lo1), _mm512_and_si512(p1, nib))),
            _mm512_shuffle_epi8(tbl(eh_u8_hi2), _mm512_and_si512(_mm512_srli_epi16(v, 4), nib)));
        __m512i third = _mm512_subs_epu8(p2, _mm512_set1_epi8((char)(0xE0 - 0x80)));
        __m512i fourth = _mm512_subs_epu8(p3, _mm512_set1_epi8((char)(0xF0 - 0x80)));
        __m512i must = _mm512_and_si512(_mm512_or_si512(third, fourth), _mm512_set1_epi8((char)0x80));
        err = _mm512_test_epi8_mask(_mm512_xor_si512(e, must), _mm512_xor_si512(e, must)) != 0;
        u->incomplete = (p[63] >= 0xC0) | (p[62] >= 0xE0) | (p[61] >= 0xF0);
    }
    u->prev = v;
    return err;
}

static inline int u8_eof(const u8state *u) { return u->incomplete; }

/* Token positions by dword compress: 16 bits of the mask at a time, each
 * group stored whole (64 bytes) and the pointer advanced by its popcount.
 * Branch-free, which beats a tzcnt loop once token counts vary per block. */
#define JSON_HAVE_FLATTEN 1
static inline void json_flatten(uint32_t *o, uint32_t base, uint64_t m, int cnt)
{
    (void)cnt;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int)base), iota);
    const __m512i sixteen = _mm512_set1_epi32(16);
    for (int g = 0; g < 4; g++) {
        __mmask16 k = (__mmask16)(m >> (16 * g));
        _mm512_storeu_si512((void *)o, _mm512_maskz_compress_epi32(k, pos));
        o += _mm_popcnt_u32(k);
        pos = _mm512_add_epi32(pos, sixteen);
    }
}

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
    static const uint8_t ws_t[16] = {' ', 0, 0, 0, 0, 0, 0, 0, 0, '\t', '\n', 0, 0, '\r', 0, 0};
    static const uint8_t op_t[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ':', '{', ',', '}', 0, 0};
    __m512i v = _mm512_loadu_si512((const void *)p);
    __m512i v20 = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
    m->bs = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
    m->quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
    m->ws = _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(tbl(ws_t), v), v);
    m->ops = _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(tbl(op_t), v20), v20);
    m->ctrl = _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20));
}

uint64_t eh_json_stage1_avx512(json_s1 *s, uint64_t end, uint32_t *idx)
{
    return json_stage1_impl(s, end, idx);
}

uint64_t eh_json_minify_avx512(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap)
{
    return json_minify_impl(in, len, out, cap);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
uint64_t eh_json_stage1_avx512(json_s1 *s, uint64_t end, uint32_t *idx)
{
    return eh_json_stage1_scalar(s, end, idx);
}
uint64_t eh_json_minify_avx512(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap)
{
    return eh_json_minify_scalar(in, len, out, cap);
}
#endif
