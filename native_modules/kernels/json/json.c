/* JSON family: variant table, request checking, the scratch layout, and the
 * validate driver that alternates stage 1 (one chunk of structural
 * positions) and stage 2 (grammar, optionally writing the tape). */
#include "kernels/json/json.h"
#include "kernels/dispatch.h"
#include "kernels/isa/isa.h"

/* Needs from isa.h; a variant this build does not compile is never runnable
 * and its slots hold the scalar functions. */
static const eh_variant_desc variants[] = {
    {"scalar", 0},
    {"simd128", EH_ISA_SIMD128_NEEDS},
    {"avx2", EH_ISA_AVX2_NEEDS},
    {"avx512", EH_ISA_AVX512_NEEDS},
};
#if !EH_ISA_COMPILED(EH_ISA_SIMD128)
#define eh_json_stage1_simd128 eh_json_stage1_scalar
#define eh_json_minify_simd128 eh_json_minify_scalar
#endif
#if !EH_ISA_X86
#define eh_json_stage1_avx2 eh_json_stage1_scalar
#define eh_json_minify_avx2 eh_json_minify_scalar
#define eh_json_stage1_avx512 eh_json_stage1_scalar
#define eh_json_minify_avx512 eh_json_minify_scalar
#endif
static const json_stage1_fn stage1_fns[] = {eh_json_stage1_scalar, eh_json_stage1_simd128,
                                            eh_json_stage1_avx2, eh_json_stage1_avx512};
static const json_minify_fn minify_fns[] = {eh_json_minify_scalar, eh_json_minify_simd128,
                                            eh_json_minify_avx2, eh_json_minify_avx512};
#define NVAR ((int)(sizeof(variants) / sizeof(variants[0])))
EH_VARIANT_STATE(json)

void eh_json_init(uint64_t cpu, const char *force) { variant_init(cpu, force); }

static inline uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static uint64_t index_entries(uint64_t in_len)
{
    uint64_t c = align64(in_len);
    return (c < EH_JSON_CHUNK ? c : EH_JSON_CHUNK) + 64;
}

uint64_t eh_json_scratch_size(uint64_t in_len, uint64_t depth)
{
    if (depth == 0)
        depth = EH_JSON_DEFAULT_DEPTH;
    return align64(depth) + align64(4 * depth) + 4 * index_entries(in_len) + 64;
}

/* Scratch layout, at the end of out so a tape can grow from out's start:
 *   [tape: 8 bytes/entry ...][pad][stack: align64(depth)][open_at:
 *   align64(4 depth)][positions: 4 * index_entries]. The scratch starts at
 * the first 64-byte aligned address past the tape's room (the size's extra
 * 64 bytes pay for that), so the tape holds (out_cap - scratch size) / 8
 * entries whatever out's address: a call gives the same answer in process
 * and in a KVM guest, which copies out to aligned scratch. Without a tape
 * the front part is simply unused. */
typedef struct {
    uint8_t *stack;
    uint32_t *open_at, *idx;
    eh_u32 *tape;
    uint64_t tape_cap;
} json_scratch;

static void carve(uint8_t *out, uint64_t cap, uint64_t in_len, uint32_t depth, json_scratch *w)
{
    uint64_t need = eh_json_scratch_size(in_len, depth); /* cap >= need checked by the caller */
    w->tape_cap = (cap - need) / 8;
    uint8_t *at = (uint8_t *)(((uintptr_t)out + 8 * w->tape_cap + 63) & ~(uintptr_t)63);
    w->stack = at;
    w->open_at = (uint32_t *)(void *)(at + align64(depth));
    w->idx = (uint32_t *)(void *)(at + align64(depth) + align64(4 * (uint64_t)depth));
    w->tape = (eh_u32 *)out;
}

/* Validates in; with want_tape also writes the tape (json.h) to w->tape.
 * res gets the error, or value = tokens (tape entries with a tape). */
static void validate(const uint8_t *in, uint64_t len, uint32_t depth, const json_scratch *w,
                     int want_tape, json_s2 *s2, eh_offload_res *res)
{
    json_s1 s1;
    __builtin_memset(&s1, 0, sizeof s1);
    s1.in = in;
    s1.len = len;
    s1.low_expected = UINT64_MAX;
    eh_json_stage2_init(s2, in, len, w->stack, depth);
    if (want_tape) {
        s2->tape = w->tape;
        s2->open_at = w->open_at;
        s2->tape_cap = w->tape_cap;
    }
    const json_stage1_fn stage1 = stage1_fns[cur()];
    for (;;) {
        uint64_t end = s1.pos + EH_JSON_CHUNK;
        if (end > len)
            end = len;
        uint64_t n = stage1(&s1, end, w->idx);
        if (eh_json_stage2(s2, w->idx, n))
            goto s2_error;
        if (s1.err) {
            res->status = EH_K_EPARSE;
            res->detail = (uint32_t)s1.err;
            res->err_offset = s1.err_off;
            return;
        }
        if (s1.pos >= len)
            break;
    }
    if (eh_json_stage2_finish(s2))
        goto s2_error;
    res->value = want_tape ? s2->ntape : s2->ntokens;
    return;
s2_error:
    res->status = s2->status;
    res->detail = (uint32_t)s2->err;
    res->err_offset = s2->err_off;
}

void eh_json_run(const eh_offload_req *req, eh_offload_res *res)
{
    const uint8_t *in = (const uint8_t *)(uintptr_t)req->in;
    uint8_t *out = (uint8_t *)(uintptr_t)req->out;
    uint64_t depth = req->arg[0] ? req->arg[0] : EH_JSON_DEFAULT_DEPTH;
    if ((req->flags & ~EH_JSON_F_TAPE) || depth > EH_JSON_MAX_DEPTH ||
        req->in_len > EH_JSON_MAX_LEN) {
        res->status = EH_K_EINVAL;
        return;
    }
    uint64_t need = eh_json_scratch_size(req->in_len, depth);
    if (req->out_cap < need) {
        res->status = EH_K_ENOSPC;
        res->out_len = need;
        return;
    }
    const int pointer = req->kernel == EH_KERNEL_JSON_POINTER;
    const int tape = pointer || (req->kernel == EH_KERNEL_JSON_VALIDATE &&
                                 (req->flags & EH_JSON_F_TAPE));
    json_scratch w;
    carve(out, req->out_cap, req->in_len, (uint32_t)depth, &w);
    json_s2 s2;
    validate(in, req->in_len, (uint32_t)depth, &w, tape, &s2, res);
    if (res->status != EH_K_OK)
        return;
    if (tape && s2.ntape > w.tape_cap) {
        res->status = EH_K_ENOSPC;
        res->out_len = need + 8 * s2.ntape;
        return;
    }
    if (req->kernel == EH_KERNEL_JSON_MINIFY) {
        uint64_t n = minify_fns[cur()](in, req->in_len, out, req->out_cap);
        res->out_len = n;
        if (n > req->out_cap)
            res->status = EH_K_ENOSPC;
    } else if (pointer) {
        eh_json_pointer(in, req->in_len, w.tape, s2.ntape, (const uint8_t *)(uintptr_t)req->in2,
                        req->in2_len, out, req->out_cap, res);
    } else if (tape) {
        res->out_len = 8 * s2.ntape;
    }
}
