/* JSON kernels (RFC 8259): EH_KERNEL_JSON_VALIDATE, _MINIFY, _POINTER.
 *
 * Tenant ABI (eh_offload_req fields):
 *   in, in_len  the document (UTF-8, no BOM); in_len < 2^32 - 64.
 *   arg[0]      maximum nesting depth of arrays/objects (0 means 1024; at
 *               most EH_JSON_MAX_DEPTH). Deeper input is EH_K_EDEPTH at the
 *               bracket that goes too deep.
 *   flags       EH_JSON_F_TAPE (VALIDATE only): also return the tape. Other
 *               bits are EINVAL.
 *   in2, in2_len  JSON_POINTER only: the RFC 6901 pointer ("" = whole
 *               document, "/a/0", "~0" and "~1" escapes). Syntax errors are
 *               EINVAL detail BAD_POINTER with err_offset into in2.
 *   out, out_cap  any address, not overlapping in. Every operation first
 *               validates the whole document with its working memory at the
 *               end of out: out_cap >= eh_json_scratch_size(in_len, arg[0])
 *               (5 bytes per depth level + at most 128 KiB + 448 bytes; else
 *               ENOSPC with that size in out_len), plus 8 bytes per tape entry when a tape is built
 *               (TAPE, POINTER; ENOSPC then reports the exact total). Results
 *               go to the start of out:
 *     VALIDATE  nothing; value = number of structural tokens. With
 *               EH_JSON_F_TAPE: the tape, out_len = 8 * entries, value =
 *               entries.
 *     MINIFY    the document without whitespace outside strings (bytes
 *               otherwise unchanged); out_len its size, ENOSPC when out_cap is
 *               smaller (out_len = exact size needed).
 *     POINTER   the referenced value's JSON text exactly as in the document
 *               (out_len its size; ENOSPC as above); err_offset its byte
 *               offset in `in`; detail its type (enum eh_json_type); value,
 *               for INT64/UINT64, the exact integer (two's complement for
 *               INT64), for DOUBLE the correctly rounded IEEE-754 bits. A
 *               missing member/index is ENOTFOUND. Navigation uses the
 *               tape: skipping a container is one step.
 *   On EPARSE/EDEPTH: detail = enum eh_json_error, err_offset = the byte.
 *
 * Tape: one entry per value, key, and closing bracket, in document order (no
 * entries for ',' and ':'); entry k is two uint32: the token's byte offset in
 * `in` (its first byte says what it is: { [ } ] " t f n - 0-9) and a link --
 * for '{'/'[' the index of the matching close, for '}'/']' the index of the
 * matching open, else 0. An object's entries alternate key, value.
 *
 * Numbers: validation checks the grammar only (no leading zeros, digits after
 * '.', exponent digits). POINTER converts the number it returns: integers are
 * exact (INT64, UINT64, or BIGINT when neither holds them; BIGINT has only its
 * text); others become the nearest double, rounded half to even (Clinger's
 * fast path, else Eisel-Lemire with a 128-bit power-of-five table, see
 * json_double.c), out of range ones 0 or infinity as IEEE rounding says. The
 * few inputs those methods cannot decide are DOUBLE_TEXT: never a wrong
 * double, the caller converts the text (the Python API uses float()).
 *
 * Strings: UTF-8 is validated over the whole document (overlongs, surrogates,
 * > U+10FFFF, truncation); control characters U+0000..U+001F, invalid escapes
 * and unpaired \uD800-\uDFFF surrogate escapes are rejected.
 *
 * Errors: the first error in byte order is reported, with one narrow
 * exception: a UTF-8 sequence that starts in the last 3 bytes of a 32 KiB
 * chunk and is broken by a byte of the next chunk loses to a syntax error at
 * or after its first byte (stage 2 has already seen that chunk). All ISA
 * variants report the identical kind and offset for every input (tested).
 * `in` and `out` must not overlap.
 *
 * Design: stage 1 (per ISA: avx512, avx2, simd128, portable "scalar")
 * classifies 64-byte blocks into bit masks -- escapes, strings (prefix xor),
 * operators, scalar starts -- validates UTF-8 (lookup-table method) and
 * writes the positions of structural tokens, 32 KiB of input at a time, into
 * scratch; stage 2 (shared) checks the grammar over those positions with an
 * explicit container stack and, on request, writes the tape. Scratch stays
 * O(depth + 32 KiB) whatever the document size.
 */
#ifndef EH_KERNELS_JSON_H
#define EH_KERNELS_JSON_H
#include <stdint.h>
#include "eh_offload.h"
#include "kernels/dispatch.h"

/* EH_JSON_F_TAPE, EH_JSON_DEFAULT_DEPTH, EH_JSON_MAX_DEPTH, enum eh_json_error and
 * enum eh_json_type are tenant ABI: generated into eh_abi.h (via eh_offload.h). */
#ifndef EH_JSON_CHUNK /* input bytes per stage-1 round; a multiple of 64. The fuzz build
                        * shrinks it so that chunk boundaries are everywhere. */
#define EH_JSON_CHUNK (32u * 1024u)
#endif
#define EH_JSON_MAX_LEN (0xffffffffull - 64)

/* Scratch bytes an operation needs for a document of in_len bytes. */
uint64_t eh_json_scratch_size(uint64_t in_len, uint64_t depth);

/* ---- internals shared by the json/ files ---- */

/* Stage-1 state carried from block to block (and chunk to chunk). */
typedef struct json_s1 {
    const uint8_t *in;
    uint64_t len;
    uint64_t pos;            /* next block's first byte (multiple of 64)            */
    uint64_t in_string;      /* 0 or ~0: the previous byte was inside a string      */
    uint64_t escaped;        /* bit 0: the next byte is escaped by a backslash      */
    uint64_t prev_scalar;    /* bit 0: the previous byte was part of a scalar       */
    uint64_t last_open;      /* opening quote of the latest string                  */
    uint64_t low_expected;   /* position of the 'u' that must hold a low surrogate  */
    uint64_t ntokens;
    int err;                 /* enum eh_json_error, 0 = none                        */
    uint64_t err_off;
    _Alignas(64) uint8_t prev_block[64]; /* UTF-8 carry: the previous block's bytes */
    uint64_t prev_incomplete; /* nonzero: the previous block ends mid-sequence      */
} json_s1;

/* Processes the blocks in [s->pos, end) (end a multiple of 64 or s->len) and
 * writes the structural positions to idx (room for end - s->pos + 64 entries
 * needed); returns how many. On an error sets s->err/err_off, stops, and
 * returns only positions before err_off. At s->len it also runs the
 * end-of-input checks. */
typedef uint64_t (*json_stage1_fn)(json_s1 *s, uint64_t end, uint32_t *idx);
uint64_t eh_json_stage1_scalar(json_s1 *s, uint64_t end, uint32_t *idx);
uint64_t eh_json_stage1_simd128(json_s1 *s, uint64_t end, uint32_t *idx);
uint64_t eh_json_stage1_avx2(json_s1 *s, uint64_t end, uint32_t *idx);
uint64_t eh_json_stage1_avx512(json_s1 *s, uint64_t end, uint32_t *idx);

/* Minify of a validated document; returns the size (writes min(size, cap)). */
typedef uint64_t (*json_minify_fn)(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap);
uint64_t eh_json_minify_scalar(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap);
uint64_t eh_json_minify_simd128(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap);
uint64_t eh_json_minify_avx2(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap);
uint64_t eh_json_minify_avx512(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap);

/* Block-level helpers every stage-1 variant calls (json_stage1_common.c). */
/* Checks escapes (escaped: bit i = in[base+i] follows an odd backslash run,
 * inside a string, < len). Returns the first error offset or UINT64_MAX and
 * sets *kind. */
uint64_t eh_json_check_escapes(json_s1 *s, uint64_t base, uint64_t escaped, int *kind);
/* Exact first UTF-8 error among sequences starting in [from, to), or UINT64_MAX. */
uint64_t eh_json_utf8_first_error(const uint8_t *in, uint64_t len, uint64_t from, uint64_t to);
/* Records the first stage-1 error of the block at base given the candidates
 * (UINT64_MAX = none); utf8_flag says the block's UTF-8 check failed. */
void eh_json_block_error(json_s1 *s, uint64_t base, uint64_t ctrl_off, uint64_t esc_off,
                         int esc_kind, int utf8_flag);

/* Stage 2: grammar over structural positions; resumable across chunks. */
typedef struct json_s2 {
    const uint8_t *in;
    uint64_t len;
    int state;
    uint32_t depth, max_depth;
    uint8_t *stack;          /* 1 = object, 0 = array, per open container */
    eh_u32 *tape;            /* optional: 2 words/entry, at out (any address)  */
    uint32_t *open_at;       /* tape entry of each open container              */
    uint64_t tape_cap;       /* entries that fit                               */
    uint64_t ntape;          /* entries produced (may exceed tape_cap)         */
    uint64_t ntokens;
    int status;              /* 0, EH_K_EPARSE or EH_K_EDEPTH */
    int err;
    uint64_t err_off;
} json_s2;

void eh_json_stage2_init(json_s2 *s, const uint8_t *in, uint64_t len, uint8_t *stack,
                         uint32_t max_depth);
/* Returns 0 to go on, -1 on error (s->status/err/err_off set). */
int eh_json_stage2(json_s2 *s, const uint32_t *idx, uint64_t n);
int eh_json_stage2_finish(json_s2 *s);

/* Scalars (json_scalar.c). Both read only [p, end). */
/* Type (INT64/UINT64/BIGINT/DOUBLE) and exact integer value of a valid number. */
int eh_json_number_type(const uint8_t *p, const uint8_t *end, uint64_t *value);
/* Nearest double of a valid JSON number in [p, end) (json_double.c): 1 and
 * *bits, or 0 when undecided (see EH_JSON_T_DOUBLE_TEXT). */
int eh_json_number_double(const uint8_t *p, const uint8_t *end, uint64_t *bits);
/* 1 for bytes that may follow a scalar: whitespace, ,:[]{} and '"'. */
extern const uint8_t eh_json_is_term[256];

/* Pointer (json_pointer.c) over a validated document and its tape. */
void eh_json_pointer(const uint8_t *in, uint64_t len, const eh_u32 *tape, uint64_t ntape,
                     const uint8_t *ptr, uint64_t plen, uint8_t *out, uint64_t cap,
                     eh_offload_res *res);

/* Variants: "scalar", "simd128" (wasm32 with -msimd128 only), "avx2", "avx512". */
int eh_json_set_variant(const char *name);
const char *eh_json_variant(void);
const char *eh_json_variant_name(int i);
int eh_json_variant_ok(int i);

#endif
