/* libFuzzer target for the CRC32C kernel. Bytes 0-3 are the seed, byte 4
 * where to split the input, the rest the data, copied into an allocation of
 * exactly its size (ASan flags any read past it). Every variant this CPU runs
 * must give the byte-table variant's answer, in one call and continued
 * across the split (crc(a b) == crc(b, seed = crc(a))), and the kernel entry
 * (EH_KERNEL_CRC32C through eh_kernel_run) the same again. */
#include "fuzz_common.h"
#include "kernels/crc32c/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 5)
        return 0;
    uint32_t seed;
    memcpy(&seed, data, 4);
    uint64_t n = size - 5, split = n * data[4] / 255;
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, data + 5, n);
    FUZZ_CHECK(eh_crc32c_set_variant("byte") == 0, "no byte variant");
    uint32_t want = eh_crc32c(seed, in, n);
    for (int v = 0; eh_crc32c_variant_name(v); v++) {
        const char *name = eh_crc32c_variant_name(v);
        if (eh_crc32c_set_variant(name) != 0)
            continue;
        uint32_t got = eh_crc32c(seed, in, n);
        FUZZ_CHECK(got == want, "%s: %08x, byte table %08x (n=%llu)", name, got, want,
                   (unsigned long long)n);
        uint32_t cont = eh_crc32c(eh_crc32c(seed, in, split), in + split, n - split);
        FUZZ_CHECK(cont == want, "%s: split at %llu gives %08x", name,
                   (unsigned long long)split, cont);
        uint64_t arg[4] = {seed, 0, 0, 0};
        eh_offload_res res;
        run_req(EH_KERNEL_CRC32C, 0, arg, in, n, 0, 0, 0, 0, &res);
        FUZZ_CHECK(res.status == EH_K_OK && res.value == want, "%s: kernel entry %llx", name,
                   (unsigned long long)res.value);
    }
    free(in);
    return 0;
}
