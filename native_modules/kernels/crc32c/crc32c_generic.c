/* Portable CRC32C variants: byte table (the reference every faster variant
 * is tested against), slicing-by-8 and slicing-by-16. Plain C; also the
 * wasm32 build's path (where slicing-by-16 is the fastest there is). */
#include "kernels/crc32c/crc32c.h"

uint32_t eh_crc32c_table[16][256];

/* Idempotent; racing first callers write identical values. */
void eh_crc32c_generic_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (EH_CRC32C_POLY & (0u - (c & 1u)));
        eh_crc32c_table[0][i] = c;
    }
    /* table[k][i]: byte i followed by k zero bytes. */
    for (int k = 1; k < 16; k++)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = eh_crc32c_table[k - 1][i];
            eh_crc32c_table[k][i] = (c >> 8) ^ eh_crc32c_table[0][c & 0xff];
        }
}

uint32_t eh_crc32c_byte(uint32_t crc, const uint8_t *p, uint64_t n)
{
    const uint32_t *t = eh_crc32c_table[0];
    crc = ~crc;
    while (n--)
        crc = t[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t eh_crc32c_slice8(uint32_t crc, const uint8_t *p, uint64_t n)
{
    uint32_t (*t)[256] = eh_crc32c_table;
    crc = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = le32(p) ^ crc, hi = le32(p + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
              t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
              t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    while (n--)
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Sixteen bytes per step: table[15-j] takes byte j, so each byte's table
 * already accounts for the bytes after it in the step. */
uint32_t eh_crc32c_slice16(uint32_t crc, const uint8_t *p, uint64_t n)
{
    uint32_t (*t)[256] = eh_crc32c_table;
    crc = ~crc;
    for (; n >= 16; n -= 16, p += 16) {
        uint32_t a = le32(p) ^ crc, b = le32(p + 4), c = le32(p + 8), d = le32(p + 12);
        crc = t[15][a & 0xff] ^ t[14][(a >> 8) & 0xff] ^ t[13][(a >> 16) & 0xff] ^
              t[12][a >> 24] ^ t[11][b & 0xff] ^ t[10][(b >> 8) & 0xff] ^
              t[9][(b >> 16) & 0xff] ^ t[8][b >> 24] ^ t[7][c & 0xff] ^
              t[6][(c >> 8) & 0xff] ^ t[5][(c >> 16) & 0xff] ^ t[4][c >> 24] ^
              t[3][d & 0xff] ^ t[2][(d >> 8) & 0xff] ^ t[1][(d >> 16) & 0xff] ^ t[0][d >> 24];
    }
    while (n--)
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
