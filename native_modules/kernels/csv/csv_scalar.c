/* CSV reference state machine: one byte at a time. It defines the dialect
 * semantics (see csv.h); the SIMD variants must produce identical entries,
 * counts and errors, and hand over to eh_csv_scalar_resume whenever a block
 * holds a quote their bit-parallel model does not describe. */
#include "kernels/csv/csv.h"

static inline void emit(eh_csv_scan *s, uint64_t pos)
{
    if (s->nfields < s->cap)
        s->idx[s->nfields] = (uint32_t)pos;
    s->nfields++;
}

/* A delimiter or line end ends the field at pos (and a line end the row):
 * emits its entry and returns 1; else 0. */
static inline int separator(eh_csv_scan *s, uint8_t c, uint64_t pos)
{
    if (c != s->delim && c != '\n')
        return 0;
    emit(s, pos);
    s->nrows += c == '\n';
    return 1;
}

/* Invariant on return without error: entries for every separator in
 * [pos, len) have been emitted, plus the closing entry for a last row that
 * has no line end. */
void eh_csv_scalar_resume(eh_csv_scan *s, uint64_t pos, int st, uint64_t open_pos)
{
    const uint8_t *in = s->in;
    const uint64_t len = s->len;
    const uint8_t q = s->quote;
    for (; pos < len; pos++) {
        uint8_t c = in[pos];
        switch (st) {
        case EH_CSV_ST_FIELD:
            if (c == q) {
                st = EH_CSV_ST_QUOTED;
                open_pos = pos;
                break;
            }
            __attribute__((fallthrough)); /* an unquoted field starts here */
        case EH_CSV_ST_UNQUOTED:
            if (separator(s, c, pos)) {
                st = EH_CSV_ST_FIELD;
            } else if (c == q && st == EH_CSV_ST_UNQUOTED && s->strict) {
                s->err = EH_CSV_E_QUOTE_IN_UNQUOTED;
                s->err_off = pos;
                return;
            } else {
                st = EH_CSV_ST_UNQUOTED;
            }
            break;
        case EH_CSV_ST_QUOTED:
            if (c == q)
                st = EH_CSV_ST_QUOTE_IN_QUOTED;
            break;
        default: /* EH_CSV_ST_QUOTE_IN_QUOTED: the last byte closed the quotes */
            if (c == q) {
                st = EH_CSV_ST_QUOTED; /* doubled quote */
            } else if (separator(s, c, pos)) {
                st = EH_CSV_ST_FIELD;
            } else {
                int crlf = c == '\r' && (pos + 1 == len || in[pos + 1] == '\n');
                if (s->strict && !crlf) {
                    s->err = EH_CSV_E_AFTER_QUOTE;
                    s->err_off = pos;
                    return;
                }
                st = EH_CSV_ST_UNQUOTED;
            }
            break;
        }
    }
    if (st == EH_CSV_ST_QUOTED) {
        s->err = EH_CSV_E_UNTERMINATED;
        s->err_off = open_pos;
        return;
    }
    if (len > 0 && in[len - 1] != '\n') {
        emit(s, len);
        s->nrows++;
    }
}

void eh_csv_index_scalar(eh_csv_scan *s)
{
    eh_csv_scalar_resume(s, 0, EH_CSV_ST_FIELD, 0);
}
