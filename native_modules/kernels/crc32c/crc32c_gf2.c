/* GF(2)[x] mod P arithmetic for CRC32C in the reflected representation
 * (bit i = coefficient of x^(31-i), so x^0 = 0x80000000). Used to build the
 * shift tables of the 3-way combine and the folding constants; runs only at
 * init, so clarity wins over speed. */
#include "kernels/crc32c/crc32c.h"

uint32_t eh_crc32c_mulmod(uint32_t a, uint32_t b)
{
    uint32_t p = 0;
    /* Walk a from x^0 upward; b runs through b * x^k mod P. */
    for (uint32_t m = 0x80000000u; m; m >>= 1) {
        if (a & m)
            p ^= b;
        b = (b & 1) ? (b >> 1) ^ EH_CRC32C_POLY : b >> 1;
    }
    return p;
}

uint32_t eh_crc32c_xpow(uint64_t n)
{
    uint32_t r = 0x80000000u, sq = 0x40000000u; /* r = 1, sq = x */
    for (; n; n >>= 1) {
        if (n & 1)
            r = eh_crc32c_mulmod(r, sq);
        sq = eh_crc32c_mulmod(sq, sq);
    }
    return r;
}

/* Advancing a register r over len zero bytes multiplies it by x^(8 len); the
 * map is linear, so it splits into four byte-indexed tables. */
void eh_crc32c_shift_init(eh_crc32c_shift *s, uint64_t len)
{
    uint32_t k = eh_crc32c_xpow(8 * len);
    for (int j = 0; j < 4; j++)
        for (uint32_t b = 0; b < 256; b++)
            s->t[j][b] = eh_crc32c_mulmod(k, b << (8 * j));
}
