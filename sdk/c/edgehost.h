/*
 * edgehost.h -- the C SDK for edgehost tenants (ABI v1): include this one header.
 *
 * Files: this header, edgehost_abi.h (the ABI's constants, structs and raw
 * imports, generated from wasm_config/abi.py) and edgehost_msgpack.h (a tiny
 * msgpack writer/reader).
 *
 * Build (edgehost build does this for you):
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c tenant.c -o tenant.wasm
 * or freestanding: --target=wasm32 -nostdlib -Wl,--no-entry.
 *
 * In exactly one .c file of the tenant, before including this header:
 *   #define EDGEHOST_IMPLEMENTATION
 * That defines the required exports (edgehost_abi_v1, edgehost_alloc).
 *
 * A handler:
 *   EDGEHOST_HANDLER(hello) {            // (const uint8_t *in, uint32_t in_len)
 *       eh_respond_str("hello");
 *       return 0;                         // non-zero = tenant error status
 *   }
 *
 * Rules (wasm_config/abi.py is the reference): pointers are offsets in this
 * module's memory; getters return the full length and copy only if it fits;
 * negative results are EH_ERR_* codes.
 */
#ifndef EDGEHOST_H
#define EDGEHOST_H

#include <stddef.h>
#include <stdint.h>

#include "edgehost_abi.h" /* constants, structs and raw imports: generated */
#include "edgehost_msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- exports ---- */
#define EH_EXPORT(name) __attribute__((export_name(#name), visibility("default")))

/* Declares handler NAME: int32_t NAME(const uint8_t *in, uint32_t in_len).
 * A handler may ignore its body: the parameters are marked unused, so
 * -Wextra builds stay quiet. */
#define EDGEHOST_HANDLER(name)                                                         \
    static int32_t eh_handler_body_##name(const uint8_t *in, uint32_t in_len);         \
    EH_EXPORT(name) int32_t name(uint32_t ptr, uint32_t len)                           \
    {                                                                                  \
        return eh_handler_body_##name((const uint8_t *)(uintptr_t)ptr, len);           \
    }                                                                                  \
    static int32_t eh_handler_body_##name(const uint8_t *in __attribute__((unused)),  \
                                          uint32_t in_len __attribute__((unused)))

/* Declares the optional configure hook: int32_t body(void), 0 = accept. */
#define EDGEHOST_CONFIGURE() \
    EH_EXPORT(edgehost_configure) int32_t edgehost_configure(void)

/* ---- small typed helpers ---- */
static inline uint32_t eh_strlen(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    return n;
}
static inline void eh_log(int32_t level, const char *msg) { eh_log_raw(level, msg, eh_strlen(msg)); }
static inline int32_t eh_respond(const void *body, uint32_t len) { return eh_response_set_body(body, len); }
static inline int32_t eh_respond_str(const char *s) { return eh_response_set_body(s, eh_strlen(s)); }
static inline int32_t eh_set_header_str(const char *name, const char *val)
{
    return eh_response_set_header(name, eh_strlen(name), val, eh_strlen(val));
}
static inline int32_t eh_kv_get_str(const char *key, void *out, uint32_t cap)
{
    return eh_kv_get(key, eh_strlen(key), out, cap);
}
static inline int32_t eh_kv_put_str(const char *key, const void *val, uint32_t len)
{
    return eh_kv_put(key, eh_strlen(key), val, len);
}
static inline int32_t eh_config_get_str(const char *key, void *out, uint32_t cap)
{
    return eh_config_get(key, eh_strlen(key), out, cap);
}

/* A string config value, in place in buf: returns its length, or a negative
 * EH_ERR_* (NOT_FOUND, or INVALID if the value is not a string or exceeds cap). */
static inline int32_t eh_config_str(const char *key, void *buf, uint32_t cap, const char **out)
{
    int32_t n = eh_config_get_str(key, buf, cap);
    if (n < 0)
        return n;
    if ((uint32_t)n > cap)
        return EH_ERR_INVALID;
    eh_mp_reader r = eh_mp_reader_init(buf, (uint32_t)n);
    uint32_t len;
    if (eh_mp_get_str(&r, out, &len) < 0)
        return EH_ERR_INVALID;
    return (int32_t)len;
}

/* Runs one kernel; returns the import's result (0 = ran, see res->status). */
static inline int32_t eh_kernel(uint32_t kernel, const void *in, uint32_t in_len, const void *in2,
                                uint32_t in2_len, void *out, uint32_t out_cap, uint64_t arg0,
                                eh_offload_result *res)
{
    eh_offload_request rq = {kernel, 0, {arg0, 0, 0, 0}, (uint32_t)(uintptr_t)in, in_len,
                             (uint32_t)(uintptr_t)in2, in2_len, (uint32_t)(uintptr_t)out, out_cap};
    return eh_offload(&rq, res);
}

/* A buffer of at least `size` bytes, 8-byte aligned, owned by the SDK: the
 * same region is handed out again by the next eh_scratch call (contents not
 * kept), so use it before asking again. NULL when memory cannot grow. */
void *eh_scratch(uint32_t size);

/* Runs a kernel whose output size is not known in advance (the JSON kernels):
 * first with no output room, which answers EH_K_ENOSPC with the working memory
 * it needs; then with that plus `extra` (a guess at the result's size), and
 * once more with the exact size if the guess fell short -- all in eh_scratch
 * memory; *out points at the result there. Returns the import's result
 * (0 = ran, see res->status) or EH_ERR_QUOTA when memory cannot grow. */
static inline int32_t eh_kernel_sized(eh_offload_request *rq, eh_offload_result *res,
                                      const uint8_t **out, uint64_t extra)
{
    rq->out = 0;
    rq->out_cap = 0;
    for (int round = 0;; round++) {
        int32_t rc = eh_offload(rq, res);
        *out = (const uint8_t *)(uintptr_t)rq->out;
        if (rc != 0 || res->status != EH_K_ENOSPC || res->out_len <= rq->out_cap ||
            round == 2)
            return rc;
        uint64_t want = res->out_len + (round == 0 ? extra : 0);
        void *buf = want <= 0xfffffff8u ? eh_scratch((uint32_t)want) : 0;
        if (!buf && want != res->out_len) /* the guess did not fit: the exact size */
            buf = res->out_len <= 0xfffffff8u ? eh_scratch((uint32_t)(want = res->out_len)) : 0;
        if (!buf)
            return EH_ERR_QUOTA;
        rq->out = (uint32_t)(uintptr_t)buf;
        rq->out_cap = (uint32_t)want;
    }
}

/* Validates JSON `doc` (RFC 8259; max_depth 0 = 1024). res->status is 0 when
 * valid (res->value = structural tokens), else EH_K_EPARSE/EH_K_EDEPTH with
 * res->detail an EH_JSON_E_* kind and res->err_offset its byte. Returns the
 * import's result: 0, or a negative EH_ERR_* (e.g. DENIED without the kernel
 * in the manifest). */
static inline int32_t eh_json_validate(const void *doc, uint32_t len, uint32_t max_depth,
                                       eh_offload_result *res)
{
    eh_offload_request rq = {EH_KERNEL_JSON_VALIDATE, 0, {max_depth, 0, 0, 0},
                             (uint32_t)(uintptr_t)doc, len, 0, 0, 0, 0};
    const uint8_t *unused;
    return eh_kernel_sized(&rq, res, &unused, 0);
}

/* The value at RFC 6901 `pointer` in `doc`: its JSON text (*text, res->out_len
 * bytes, in eh_scratch memory), type in res->detail (EH_JSON_T_*), byte offset
 * in res->err_offset, exact integer or double bits in res->value. res->status:
 * 0, EH_K_ENOTFOUND, EH_K_EPARSE/EDEPTH (invalid document), or EH_K_EINVAL
 * with detail EH_JSON_E_BAD_POINTER (err_offset into the pointer). Returns the
 * import's result as eh_json_validate does. */
static inline int32_t eh_json_pointer(const void *doc, uint32_t len, const char *pointer,
                                      uint32_t pointer_len, uint32_t max_depth,
                                      eh_offload_result *res, const uint8_t **text)
{
    eh_offload_request rq = {EH_KERNEL_JSON_POINTER, 0, {max_depth, 0, 0, 0},
                             (uint32_t)(uintptr_t)doc, len, (uint32_t)(uintptr_t)pointer,
                             pointer_len, 0, 0};
    /* The tape takes 8 bytes per token, a token at least one byte. */
    return eh_kernel_sized(&rq, res, text, 9ull * len);
}

/* ---- typed vector kernels (float32), the same set as the Rust SDK's `vector` ----
 *
 * How results come back (every kernel helper of this header): the return
 * value is the offload import's result -- 0 when the kernel ran, or a
 * negative EH_ERR_* when the host refused (EH_ERR_DENIED: the kernel is not
 * in the manifest's `kernels`; EH_ERR_GUEST_FAULT / EH_ERR_TIMEOUT from KVM
 * isolation; EH_ERR_INVALID when the SDK itself rejects the lengths). When it
 * is 0, res->status says whether the kernel succeeded (EH_K_OK) or why not
 * (EH_K_EINVAL: lengths or alignment; EH_K_ENOSPC: out too small, res->out_len
 * is the room needed). Outputs are written only on success; eh_ok(rc, res)
 * tests both at once. Arrays are float32, 4-byte aligned, n counts floats. */
static inline int eh_ok(int32_t rc, const eh_offload_result *res)
{
    return rc == 0 && res->status == EH_K_OK;
}

static inline float eh__f32(uint64_t bits)
{
    union { uint32_t u; float f; } v = {(uint32_t)bits};
    return v.f;
}

static inline uint32_t eh__f32_bits(float f)
{
    union { float f; uint32_t u; } v = {f};
    return v.u;
}

/* Runs a vector kernel over a (n1 floats), b (n2 floats) into out (cap floats). */
static inline int32_t eh__vec(uint32_t kernel, const float *a, uint32_t n1, const float *b,
                              uint32_t n2, void *out, uint64_t cap_bytes, uint64_t arg0,
                              uint64_t arg1, eh_offload_result *res)
{
    if (n1 > 0x3fffffffu || n2 > 0x3fffffffu || cap_bytes > 0xffffffffu)
        return EH_ERR_INVALID;
    eh_offload_request rq = {kernel, 0, {arg0, arg1, 0, 0}, (uint32_t)(uintptr_t)a, n1 * 4u,
                             (uint32_t)(uintptr_t)b, n2 * 4u, (uint32_t)(uintptr_t)out,
                             (uint32_t)cap_bytes};
    return eh_offload(&rq, res);
}

static inline int32_t eh__vec_scalar(uint32_t kernel, const float *a, const float *b,
                                     uint32_t nb, uint32_t n, float *out, eh_offload_result *res)
{
    int32_t rc = eh__vec(kernel, a, n, b, nb, 0, 0, 0, 0, res);
    if (eh_ok(rc, res))
        *out = eh__f32(res->value);
    return rc;
}

/* *out = a . b */
static inline int32_t eh_vec_dot(const float *a, const float *b, uint32_t n, float *out,
                                 eh_offload_result *res)
{
    return eh__vec_scalar(EH_KERNEL_VEC_DOT, a, b, n, n, out, res);
}

/* *out = the sum of a */
static inline int32_t eh_vec_sum(const float *a, uint32_t n, float *out, eh_offload_result *res)
{
    return eh__vec_scalar(EH_KERNEL_VEC_SUM, a, 0, 0, n, out, res);
}

/* *out = |a| */
static inline int32_t eh_vec_l2norm(const float *a, uint32_t n, float *out,
                                    eh_offload_result *res)
{
    return eh__vec_scalar(EH_KERNEL_VEC_L2NORM, a, 0, 0, n, out, res);
}

/* *out = |a - b|^2 */
static inline int32_t eh_vec_l2sq(const float *a, const float *b, uint32_t n, float *out,
                                  eh_offload_result *res)
{
    return eh__vec_scalar(EH_KERNEL_VEC_L2SQ, a, b, n, n, out, res);
}

/* *out = a . b / (|a| |b|) (NaN for a zero vector) */
static inline int32_t eh_vec_cosine(const float *a, const float *b, uint32_t n, float *out,
                                    eh_offload_result *res)
{
    return eh__vec_scalar(EH_KERNEL_VEC_COSINE, a, b, n, n, out, res);
}

/* out[i] = alpha * x[i] + y[i], i < n (out may not overlap x or y) */
static inline int32_t eh_vec_axpy(float alpha, const float *x, const float *y, uint32_t n,
                                  float *out, eh_offload_result *res)
{
    return eh__vec(EH_KERNEL_VEC_AXPY, x, n, y, n, out, 4ull * n, eh__f32_bits(alpha), 0, res);
}

/* out[r] = m[r] . v for the rows x cols row-major matrix m; res->value = rows */
static inline int32_t eh_vec_matvec(const float *m, uint32_t rows, const float *v, uint32_t cols,
                                    float *out, eh_offload_result *res)
{
    if ((uint64_t)rows * cols > 0x3fffffffu)
        return EH_ERR_INVALID;
    return eh__vec(EH_KERNEL_VEC_MATVEC, m, rows * cols, v, cols, out, 4ull * rows, 0, 0, res);
}

/* The best k rows of the rows x cols matrix m for query q under metric
 * (EH_VEC_L2SQ smallest first, EH_VEC_DOT / EH_VEC_COSINE largest first), best
 * first, into out[k]; res->value = how many were written (min(k, rows)). */
static inline int32_t eh_vec_topk(const float *m, uint32_t rows, const float *q, uint32_t cols,
                                  uint32_t metric, eh_vec_hit *out, uint32_t k,
                                  eh_offload_result *res)
{
    if ((uint64_t)rows * cols > 0x3fffffffu)
        return EH_ERR_INVALID;
    return eh__vec(EH_KERNEL_VEC_TOPK, m, rows * cols, q, cols, out, (uint64_t)k * sizeof *out,
                   k, metric, res);
}

/* Lower-case hex of a u32 into out[8] (no NUL). */
static inline void eh_hex32(uint32_t v, char out[8])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--, v >>= 4)
        out[i] = d[v & 15];
}

/* Decimal digits of v into out[20] (no NUL); returns how many. */
static inline uint32_t eh_dec64(uint64_t v, char out[20])
{
    char rev[20];
    uint32_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (uint32_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

#ifdef EDGEHOST_IMPLEMENTATION
/* A grow-only region backed by memory.grow directly (the SDK needs no libc):
 * growing abandons the old block, so sizes settle after a few requests. */
static uint8_t *eh__grow(uint8_t **base, uint32_t *cap, uint32_t size)
{
    if (size <= *cap)
        return *base;
    uint32_t pages = (uint32_t)(((uint64_t)size + 65535u) / 65536u);
    long old = __builtin_wasm_memory_grow(0, pages);
    if (old < 0)
        return 0;
    *base = (uint8_t *)(uintptr_t)((uint32_t)old * 65536u);
    *cap = pages * 65536u;
    return *base;
}

static uint8_t *eh__input, *eh__scratch; /* request body (host-written); eh_scratch */
static uint32_t eh__input_cap, eh__scratch_cap;

EH_EXPORT(edgehost_abi_v1) void edgehost_abi_v1(void) {}

EH_EXPORT(edgehost_alloc) uint32_t edgehost_alloc(uint32_t size)
{
    return (uint32_t)(uintptr_t)eh__grow(&eh__input, &eh__input_cap, size);
}

void *eh_scratch(uint32_t size) { return eh__grow(&eh__scratch, &eh__scratch_cap, size); }
#endif

#ifdef __cplusplus
}
#endif
#endif
