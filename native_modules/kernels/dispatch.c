/* The one kernel dispatcher: kernel id -> family. */
#include "kernels/dispatch.h"

#ifdef __x86_64__
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint64_t eh_cpu_detect(void)
{
    unsigned a, b, c, d;
    uint64_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (c & bit_SSE4_2) f |= EH_CPU_SSE42;
    if (c & bit_PCLMUL) f |= EH_CPU_PCLMUL;
    if (c & bit_POPCNT) f |= EH_CPU_POPCNT;
    int avx = (c & bit_AVX) != 0;
    int fma = (c & bit_FMA) != 0;
    uint64_t xcr0 = (c & bit_OSXSAVE) ? xgetbv0() : 0;
    int ymm_ok = (xcr0 & 0x6) == 0x6;    /* SSE + AVX state: VEX-256 instructions       */
    int zmm_ok = (xcr0 & 0xe6) == 0xe6;  /* + opmask, ZMM_Hi256, Hi16_ZMM: AVX-512    */
    if (avx && ymm_ok) f |= EH_CPU_AVX;
    if (fma && ymm_ok) f |= EH_CPU_FMA;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if (b & bit_BMI) f |= EH_CPU_BMI1;
        if (b & bit_BMI2) f |= EH_CPU_BMI2;
        if (ymm_ok) {
            /* VPCLMULQDQ and VAES have VEX-256 forms (ymm): usable without
             * AVX-512 (Zen 3, Alder Lake); their zmm forms also need AVX512F,
             * which a variant using them requires as well. */
            if (b & bit_AVX2) f |= EH_CPU_AVX2;
            if (c & bit_VPCLMULQDQ) f |= EH_CPU_VPCLMULQDQ;
            if (c & bit_VAES) f |= EH_CPU_VAES;
        }
        if (zmm_ok) {
            if (b & bit_AVX512F) f |= EH_CPU_AVX512F;
            if (b & bit_AVX512BW) f |= EH_CPU_AVX512BW;
            if (b & bit_AVX512VL) f |= EH_CPU_AVX512VL;
            if (b & bit_AVX512DQ) f |= EH_CPU_AVX512DQ;
        }
    }
    return f;
}
#else
uint64_t eh_cpu_detect(void) { return 0; }
#endif

const char *eh_cpu_feature_name(unsigned bit)
{
#define EH_CPU_NAME_(name, b, str) \
    if (bit == (b))                \
        return str;
    EH_CPU_FEATURES(EH_CPU_NAME_)
#undef EH_CPU_NAME_
    return 0;
}

/* Does [s, s+n) spell exactly the NUL-terminated word w? */
static int word_is(const char *s, int n, const char *w)
{
    int i = 0;
    for (; i < n; i++)
        if (w[i] != s[i])
            return 0;
    return w[i] == 0;
}

int eh_variant_find(const eh_variant_desc *v, int n, uint64_t cpu, const char *name)
{
    int len = 0;
    if (!name)
        return -1;
    while (name[len])
        len++;
    for (int i = 0; i < n; i++)
        if (word_is(name, len, v[i].name))
            return (v[i].needs & ~cpu) ? -1 : i;
    return -1;
}

int eh_variant_select(const eh_variant_desc *v, int n, uint64_t cpu, const char *family,
                      const char *force)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (!(v[i].needs & ~cpu))
            best = i;
    /* Walk the items; the last one that pins this family to a runnable variant wins. */
    for (const char *item = force; item && *item;) {
        const char *end = item, *eq = 0;
        while (*end && *end != ',') {
            if (*end == '=' && !eq)
                eq = end;
            end++;
        }
        const char *name = eq ? eq + 1 : item;
        int applies = !eq || word_is(item, (int)(eq - item), family);
        if (applies) {
            for (int i = 0; i < n; i++)
                if (word_is(name, (int)(end - name), v[i].name) && !(v[i].needs & ~cpu))
                    best = i;
        }
        item = *end ? end + 1 : end;
    }
    return best;
}

void eh_kernel_run_many(const eh_offload_req *req, eh_offload_res *res, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        eh_kernel_run(req, res);
        /* Keep the compiler from merging iterations: res is observable. */
        __asm__ volatile("" : : "r"(res) : "memory");
    }
}

void eh_kernels_init_with(uint64_t cpu, const char *force)
{
    eh_crc32c_init(cpu, force);
    eh_csv_init(cpu, force);
    eh_json_init(cpu, force);
    eh_vector_init(cpu, force);
}

static void clear(eh_offload_res *res)
{
    res->status = EH_K_OK;
    res->detail = 0;
    res->value = 0;
    res->out_len = 0;
    res->err_offset = 0;
}

void eh_kernel_run(const eh_offload_req *req, eh_offload_res *res)
{
    clear(res);
    switch (req->kernel) {
    case EH_KERNEL_NOP:
        return;
    case EH_KERNEL_CRC32C:
        eh_crc32c_run(req, res);
        return;
    case EH_KERNEL_CSV_INDEX:
    case EH_KERNEL_CSV_FIELDS:
        eh_csv_run(req, res);
        return;
    case EH_KERNEL_JSON_VALIDATE:
    case EH_KERNEL_JSON_MINIFY:
    case EH_KERNEL_JSON_POINTER:
        eh_json_run(req, res);
        return;
    case EH_KERNEL_VEC_DOT:
    case EH_KERNEL_VEC_AXPY:
    case EH_KERNEL_VEC_SUM:
    case EH_KERNEL_VEC_L2NORM:
    case EH_KERNEL_VEC_L2SQ:
    case EH_KERNEL_VEC_COSINE:
    case EH_KERNEL_VEC_MATVEC:
    case EH_KERNEL_VEC_TOPK:
        eh_vector_run(req, res);
        return;
    case EH_KERNEL_STREAM:
        eh_stream_run(req, res);
        return;
    default:
        res->status = EH_K_ENOTSUP;
        return;
    }
}
