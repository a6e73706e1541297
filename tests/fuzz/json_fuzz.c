/* libFuzzer target for the JSON kernels. Byte 0 picks the operation, depth
 * limit and pointer; the rest is the document, copied into an allocation of
 * exactly its size (and, after a "\0\0" separator, a pointer of its own);
 * the output lies at the document's length modulo 8 past an allocation (the
 * kernels take any address). Every variant this CPU runs must return the same result
 * and output; a minified valid document must be valid, no longer, and its
 * own minification. */
#include "fuzz_common.h"
#include "kernels/json/json.h"

static const char *names[] = {"scalar", "avx2", "avx512"};
static const char *pointers[] = {"", "/0", "/a", "/a/0", "/~0~1/1", "/é"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    uint64_t n = size - 1;
    /* "doc \0\0 pointer": a pointer from the input itself, else a fixed one */
    const uint8_t *split = 0;
    for (uint64_t i = 1; i + 1 < size; i++)
        if (data[i] == 0 && data[i + 1] == 0) {
            split = data + i;
            break;
        }
    uint64_t plen = 0;
    uint8_t *pbuf = 0;
    if (split) {
        n = (uint64_t)(split - (data + 1));
        plen = size - (uint64_t)(split + 2 - data);
        pbuf = malloc(plen ? plen : 1);
        memcpy(pbuf, split + 2, plen);
    }
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, data + 1, n);
    uint32_t kernel = EH_KERNEL_JSON_VALIDATE + ctl % 3;
    uint64_t arg[4] = {(ctl & 8) ? 3 : 0, 0, 0, 0};
    const uint8_t *ptr = split ? pbuf : (const uint8_t *)pointers[(ctl >> 4) % 6];
    if (!split)
        plen = strlen((const char *)ptr);
    uint64_t cap = eh_json_scratch_size(n, arg[0]) + ((ctl & 128) ? 0 : n);
    variant_ref ref = {0};
    for (int v = 0; v < 3; v++) {
        if (eh_json_set_variant(names[v]) != 0)
            continue;
        uint8_t *base = malloc(n % 8 + cap), *out = base + n % 8; /* ends at out + cap */
        eh_offload_res res;
        run_req(kernel, 0, arg, in, n, ptr, plen, out, cap, &res);
        if (res.status == EH_K_OK)
            FUZZ_CHECK(res.out_len <= cap, "out_len > cap");
        if (res.status == EH_K_EPARSE || res.status == EH_K_EDEPTH)
            FUZZ_CHECK(res.err_offset <= n, "offset %llu past end",
                       (unsigned long long)res.err_offset);
        if (res.status == EH_K_OK && kernel == EH_KERNEL_JSON_MINIFY) {
            uint64_t m = res.out_len;
            FUZZ_CHECK(m <= n, "minify grew");
            uint8_t *mini = malloc(m ? m : 1);
            memcpy(mini, out, m);
            uint8_t *base2 = malloc((n + 3) % 8 + cap), *out2 = base2 + (n + 3) % 8;
            eh_offload_res r2;
            run_req(EH_KERNEL_JSON_MINIFY, 0, arg, mini, m, 0, 0, out2, cap, &r2);
            FUZZ_CHECK(r2.status == EH_K_OK && r2.out_len == m && !memcmp(out2, mini, m),
                       "minified document not a fixed point");
            free(base2);
            free(mini);
        }
        variant_ref_check(&ref, names[v], &res, out, base);
    }
    variant_ref_free(&ref);
    free(in);
    free(pbuf);
    return 0;
}
