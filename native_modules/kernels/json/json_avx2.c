/* JSON stage 1 and minify, AVX2: a 64-byte block is two 32-byte halves whose
 * compare results are packed into 64-bit masks; UTF-8 is checked per half. */
#include "kernels/json/json.h"

#ifdef __x86_64__
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,pclmul,bmi,bmi2,popcnt"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,pclmul,bmi,bmi2,popcnt")
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
    const __m256i nib = _mm256_set1_epi8(0x0f);
    __m256i t = _mm256_permute2x128_si256(prev, v, 0x21); /* lane i-1 under lane i */
    __m256i p1 = _mm256_alignr_epi8(v, t, 15);
    __m256i p2 = _mm256_alignr_epi8(v, t, 14);
    __m256i p3 = _mm256_alignr_epi8(v, t, 13);
    __m256i e = _mm256_and_si256(
        _mm256_and_si256(
            _mm256_shuffle_epi8(tbl(eh_u8_hi1), _mm256_and_si256(_mm256_srli_epi16(p1, 4), nib)),
            _mm256_shuffle_epi8(tbl(eh_u8_lo1), _mm256_and_si256(p1, nib))),
        _mm256_shuffle_epi8(tbl(eh_u8_hi2), _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)));
    __m256i third = _mm256_subs_epu8(p2, _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(p3, _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(e, must);
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
    static const uint8_t ws_t[16] = {' ', 0, 0, 0, 0, 0, 0, 0, 0, '\t', '\n', 0, 0, '\r', 0, 0};
    static const uint8_t op_t[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ':', '{', ',', '}', 0, 0};
    __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 32));
    const __m256i k20 = _mm256_set1_epi8(0x20);
    __m256i lo20 = _mm256_or_si256(lo, k20), hi20 = _mm256_or_si256(hi, k20);
    const __m256i bs = _mm256_set1_epi8('\\'), qt = _mm256_set1_epi8('"');
    m->bs = pack(_mm256_cmpeq_epi8(lo, bs), _mm256_cmpeq_epi8(hi, bs));
    m->quote = pack(_mm256_cmpeq_epi8(lo, qt), _mm256_cmpeq_epi8(hi, qt));
    m->ws = pack(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(ws_t), lo), lo),
                 _mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(ws_t), hi), hi));
    m->ops = pack(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(op_t), lo20), lo20),
                  _mm256_cmpeq_epi8(_mm256_shuffle_epi8(tbl(op_t), hi20), hi20));
    /* c < 0x20 unsigned  <=>  max(c, 0x1f) == 0x1f */
    const __m256i k1f = _mm256_set1_epi8(0x1f);
    m->ctrl = pack(_mm256_cmpeq_epi8(_mm256_max_epu8(lo, k1f), k1f),
                   _mm256_cmpeq_epi8(_mm256_max_epu8(hi, k1f), k1f));
}

uint64_t eh_json_stage1_avx2(json_s1 *s, uint64_t end, uint32_t *idx)
{
    return json_stage1_impl(s, end, idx);
}

uint64_t eh_json_minify_avx2(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap)
{
    return json_minify_impl(in, len, out, cap);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
uint64_t eh_json_stage1_avx2(json_s1 *s, uint64_t end, uint32_t *idx)
{
    return eh_json_stage1_scalar(s, end, idx);
}
uint64_t eh_json_minify_avx2(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap)
{
    return eh_json_minify_scalar(in, len, out, cap);
}
#endif
