/* CRC32C variants. Every variant computes crc32c(seed, data) with the same
 * convention: seed is a previous result (0 to start), so
 * crc(a+b) == crc(b, seed=crc(a)). */
#ifndef EH_KERNELS_CRC32C_H
#define EH_KERNELS_CRC32C_H
#include <stdint.h>

typedef uint32_t (*eh_crc32c_fn)(uint32_t seed, const uint8_t *p, uint64_t n);

void eh_crc32c_generic_init(void);
uint32_t eh_crc32c_byte(uint32_t seed, const uint8_t *p, uint64_t n);
uint32_t eh_crc32c_sse42(uint32_t seed, const uint8_t *p, uint64_t n);

/* The active variant (after eh_kernels_init*). */
uint32_t eh_crc32c(uint32_t seed, const uint8_t *p, uint64_t n);
const char *eh_crc32c_variant(void);

#endif
