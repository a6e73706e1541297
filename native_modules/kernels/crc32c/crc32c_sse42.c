/* CRC32C with the SSE4.2 crc32 instruction. The instruction has a latency of
 * 3 cycles and a throughput of 1, so three independent streams keep it busy:
 * a block of 3*len bytes is split into streams A, B, C; B and C start from a
 * zero register and are merged with
 *     reg(A B) = shift_len(reg(A)) ^ reg_from_0(B)
 * (the register update is linear), shift_len being a table-driven multiply
 * by x^(8 len) mod P. */
#include "kernels/crc32c/crc32c.h"

#define LONG_LEN 4096u  /* bytes per stream, long blocks  */
#define SHORT_LEN 256u  /* bytes per stream, short blocks */

static eh_crc32c_shift shift_long, shift_short;

void eh_crc32c_sse42_init(void)
{
    eh_crc32c_shift_init(&shift_long, LONG_LEN);
    eh_crc32c_shift_init(&shift_short, SHORT_LEN);
}

#define EH_ISA EH_ISA_SSE42
#include "kernels/isa/begin.h"
#if EH_ISA_ON

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}

/* One block of three streams of len bytes (len a multiple of 8). */
static inline uint32_t three_way(uint32_t r, const uint8_t *p, uint64_t len,
                                 const eh_crc32c_shift *s)
{
    uint64_t c0 = r, c1 = 0, c2 = 0;
    for (const uint8_t *end = p + len; p < end; p += 8) {
        c0 = _mm_crc32_u64(c0, ld64(p));
        c1 = _mm_crc32_u64(c1, ld64(p + len));
        c2 = _mm_crc32_u64(c2, ld64(p + 2 * len));
    }
    r = eh_crc32c_shift_apply(s, (uint32_t)c0) ^ (uint32_t)c1;
    return eh_crc32c_shift_apply(s, r) ^ (uint32_t)c2;
}

/* r is the raw register (already inverted); returns the raw register. */
uint32_t eh_crc32c_sse42_raw(uint32_t r, const uint8_t *p, uint64_t n)
{
    for (; n >= 3 * LONG_LEN; n -= 3 * LONG_LEN, p += 3 * LONG_LEN)
        r = three_way(r, p, LONG_LEN, &shift_long);
    for (; n >= 3 * SHORT_LEN; n -= 3 * SHORT_LEN, p += 3 * SHORT_LEN)
        r = three_way(r, p, SHORT_LEN, &shift_short);
    uint64_t c = r;
    for (; n >= 8; n -= 8, p += 8)
        c = _mm_crc32_u64(c, ld64(p));
    r = (uint32_t)c;
    while (n--)
        r = _mm_crc32_u8(r, *p++);
    return r;
}

uint32_t eh_crc32c_sse42(uint32_t seed, const uint8_t *p, uint64_t n)
{
    return ~eh_crc32c_sse42_raw(~seed, p, n);
}
#endif
#include "kernels/isa/end.h"
