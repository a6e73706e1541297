/* CSV kernels: EH_KERNEL_CSV_INDEX and EH_KERNEL_CSV_FIELDS.
 *
 * Tenant ABI (eh_offload_req fields):
 *   in, in_len   the CSV text; in_len < 2^31 for CSV_INDEX, < 2^30 - 1 for
 *                CSV_FIELDS (else EINVAL, detail TOO_BIG).
 *   arg[0]       delimiter byte (0 means ',').
 *   arg[1]       quote byte (0 means '"'). Must differ from the delimiter,
 *                '\n' and '\r' (else EINVAL).
 *   flags        EH_CSV_F_STRICT: RFC 4180 quoting only -- a quote inside an
 *                  unquoted field, or anything but a delimiter, line end,
 *                  doubled quote or end of input after a closing quote, is
 *                  EPARSE. Without it quotes are handled like Python's csv
 *                  module (non-strict): a quote not at the start of a field is
 *                  data, characters after a closing quote are appended.
 *                EH_CSV_F_RECT: every non-blank row must have as many fields
 *                  as the first one, else EPARSE detail RAGGED at the row's
 *                  first byte.
 *   in2          unused.
 *   out, out_cap at any address (entries are written unaligned); see
 *                below. On ENOSPC out_len holds the bytes needed.
 *
 * Dialect: a row ends at '\n' outside quotes; one '\r' right before that '\n'
 * (or before the end of input) is not part of the last field, so LF and CRLF
 * files index alike. A bare '\r' elsewhere is data (Python's csv would end the
 * row there). Quoted fields may hold delimiters, '\r', '\n' and doubled quotes.
 * An input that ends inside a quoted field is EPARSE detail UNTERMINATED at the
 * opening quote, in both modes. A trailing line end does not start a row.
 *
 * CSV_INDEX output: uint32 entries, one per field, in input order: the byte
 * offset of the separator that ends the field -- its delimiter, its row's
 * '\n', or in_len for the last field of an input without a final line end. A
 * field's raw bytes are [prev+1, end) (prev = previous entry, -1 for the first;
 * minus one trailing '\r' when in[end] is '\n' or end == in_len); the field
 * ends its row iff end == in_len or in[end] == '\n'. Nothing is copied.
 * out_len = 4 * fields. value = fields | rows << 32.
 * A blank line is a row of one empty field (Python's csv yields [] for it).
 *
 * CSV_FIELDS output: the same entries, each now the end offset of the field's
 * unescaped value inside a value area that follows the entries (value area
 * starts at out + 4 * fields), or-ed with EH_CSV_ROW_END when the field ends
 * its row and EH_CSV_QUOTED when it was quoted. Unescaping removes enclosing
 * quotes and turns doubled quotes into one; after a closing quote the rest of
 * the field is kept as it is (lenient mode). Needs out_cap >= 4*fields + in_len
 * (ENOSPC reports exactly that bound); bytes of the value area past out_len
 * may be scribbled on. value as for CSV_INDEX.
 *
 * Variants: "scalar" (the reference state machine), "swar", "simd128",
 * "avx2", "avx512" -- the last four share one bit-parallel block algorithm
 * (csv_simd.h) and hand blocks it cannot model to the state machine, so all
 * produce identical results (fuzzed).
 *
 * Working memory: none besides out, which must not overlap in. Every variant
 * reads only [in, in+in_len).
 */
#ifndef EH_KERNELS_CSV_H
#define EH_KERNELS_CSV_H
#include <stdint.h>
#include "kernels/dispatch.h"

/* Flags, index entry bits, EH_CSV_MAX_LEN and enum eh_csv_error (res->detail on
 * EPARSE / EINVAL) are tenant ABI: generated from wasm_config/abi.py. */
#include "eh_abi.h"

/* One indexing job, shared by every variant. Variants write at most cap
 * entries but count all of them (nfields), so ENOSPC can say what is needed. */
typedef struct eh_csv_scan {
    const uint8_t *in;
    uint64_t len;
    uint8_t delim, quote;
    int strict;
    eh_u32 *idx;       /* out: entries at any address         */
    uint64_t cap;      /* entries that fit in idx             */
    uint64_t nfields;  /* entries produced (may exceed cap)    */
    uint64_t nrows;
    int err;           /* enum eh_csv_error                    */
    uint64_t err_off;
} eh_csv_scan;

typedef void (*eh_csv_index_fn)(eh_csv_scan *s);

/* Scalar states, also used to resume after a SIMD block meets something its
 * bit-parallel model does not cover. */
enum { EH_CSV_ST_FIELD = 0, EH_CSV_ST_UNQUOTED, EH_CSV_ST_QUOTED, EH_CSV_ST_QUOTE_IN_QUOTED };

/* The reference state machine from byte pos in state st; open_pos is the
 * opening quote of the current field when st is QUOTED. Runs to the end. */
void eh_csv_scalar_resume(eh_csv_scan *s, uint64_t pos, int st, uint64_t open_pos);
void eh_csv_index_scalar(eh_csv_scan *s);
void eh_csv_index_swar(eh_csv_scan *s);
void eh_csv_index_simd128(eh_csv_scan *s);
void eh_csv_index_avx2(eh_csv_scan *s);
void eh_csv_index_avx512(eh_csv_scan *s);

/* Variant control as in dispatch.h; names "scalar" (reference), "swar",
 * "simd128" (wasm32 with -msimd128 only), "avx2", "avx512".
 * Not thread-safe against running kernels (tests and benchmarks only). */
int eh_csv_set_variant(const char *name);
const char *eh_csv_variant(void);
const char *eh_csv_variant_name(int i);
int eh_csv_variant_ok(int i);

#endif
