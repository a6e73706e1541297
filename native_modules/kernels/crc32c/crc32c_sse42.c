/* CRC32C with the SSE4.2 crc32 instruction, 8 bytes per step. */
#pragma GCC target("sse4.2")
#include <nmmintrin.h>
#include "kernels/crc32c/crc32c.h"

uint32_t eh_crc32c_sse42(uint32_t crc, const uint8_t *p, uint64_t n)
{
    uint64_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    for (; n >= 8; n -= 8, p += 8)
        c = _mm_crc32_u64(c, *(const uint64_t *)p);
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
