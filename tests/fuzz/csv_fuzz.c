/* libFuzzer target for the CSV kernels. Byte 0 picks the dialect, flags and
 * output capacity; the rest is the CSV text, copied into an allocation of
 * exactly its size; bits 6-7 of byte 0 misalign the output (kernels take any
 * address). Every variant this CPU runs must return the same result and
 * output, and a successful index must satisfy the layout in csv.h. */
#include "fuzz_common.h"
#include "kernels/csv/csv.h"

static const char *names[] = {"scalar", "swar", "avx2", "avx512"};

static void check_index(const uint8_t *in, uint64_t n, uint8_t d, const eh_u32 *idx,
                        uint64_t count)
{
    uint64_t prev = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t e = idx[i];
        FUZZ_CHECK(e <= n && (i == 0 || e > prev), "entry %llu = %llu", (unsigned long long)i,
                   (unsigned long long)e);
        FUZZ_CHECK(e == n || in[e] == d || in[e] == '\n', "entry %llu not a separator",
                   (unsigned long long)i);
        prev = e;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    uint64_t n = size - 1;
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, data + 1, n);
    uint64_t arg[4] = {(ctl & 1) ? ';' : 0, (ctl & 2) ? '\'' : 0, 0, 0};
    uint32_t flags = (ctl >> 2) & 3;
    uint32_t kernel = (ctl & 16) ? EH_KERNEL_CSV_FIELDS : EH_KERNEL_CSV_INDEX;
    uint64_t cap = (ctl & 32) ? (n / 2) & ~3ull : 4 * (n + 2) + n;
    variant_ref ref = {0};
    for (int v = 0; v < 4; v++) {
        if (eh_csv_set_variant(names[v]) != 0)
            continue;
        /* exactly off + cap bytes: ASan flags a write past out + cap */
        uint8_t *base = malloc((ctl >> 6) + cap + !cap), *out = base + (ctl >> 6);
        eh_offload_res res;
        run_req(kernel, flags, arg, in, n, 0, 0, out, cap, &res);
        if (res.status == EH_K_OK)
            FUZZ_CHECK(res.out_len <= cap, "out_len %llu > cap", (unsigned long long)res.out_len);
        if (res.status == EH_K_OK && kernel == EH_KERNEL_CSV_INDEX)
            check_index(in, n, arg[0] ? (uint8_t)arg[0] : ',', (const eh_u32 *)out,
                        res.out_len / 4);
        variant_ref_check(&ref, names[v], &res, out, base);
    }
    variant_ref_free(&ref);
    free(in);
    return 0;
}
