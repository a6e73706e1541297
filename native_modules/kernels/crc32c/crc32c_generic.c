/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), byte-table variant:
 * the portable reference every faster variant is tested against. */
#include "kernels/crc32c/crc32c.h"

static uint32_t table[256];
static volatile int table_ready;

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        table[i] = c;
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

/* Racing first callers compute identical tables, so the race is benign. */
void eh_crc32c_generic_init(void)
{
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
        build_table();
}

uint32_t eh_crc32c_byte(uint32_t crc, const uint8_t *p, uint64_t n)
{
    eh_crc32c_generic_init();
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
