/* JSON stage 2: the RFC 8259 grammar over stage 1's structural positions.
 *
 * Each position holds one token: an operator ,:[]{}, the opening quote of a
 * string (whose contents stage 1 already validated), or the first byte of a
 * scalar run (number, literal, or garbage). The state says what the grammar
 * expects next; it and the container stack survive between chunks, so the
 * positions may arrive in any number of pieces. */
#include "kernels/json/json.h"

enum {
    ST_VALUE,       /* root value, or after ':'            */
    ST_ARRAY_FIRST, /* after '[': value or ']'              */
    ST_ARRAY_NEXT,  /* after ',' in an array: value         */
    ST_OBJ_FIRST,   /* after '{': key or '}'                */
    ST_OBJ_NEXT,    /* after ',' in an object: key          */
    ST_COLON,       /* after a key                          */
    ST_AFTER,       /* after a value: ',' or close, or end  */
};

void eh_json_stage2_init(json_s2 *s, const uint8_t *in, uint64_t len, uint8_t *stack,
                         uint32_t max_depth)
{
    s->in = in;
    s->len = len;
    s->state = ST_VALUE;
    s->depth = 0;
    s->max_depth = max_depth;
    s->stack = stack;
    s->tape = 0;
    s->open_at = 0;
    s->tape_cap = 0;
    s->ntape = 0;
    s->ntokens = 0;
    s->status = 0;
    s->err = 0;
    s->err_off = 0;
}

static inline int digit(uint8_t c) { return (uint8_t)(c - '0') < 10; }

/* First non-digit at or after p (or end); 8 bytes at a time while 8 remain.
 * Per byte x = b ^ '0' is a digit iff x < 10; (x & 0x7f) + 0x76 sets the high
 * bit iff (x & 0x7f) >= 10 and never carries into the next byte. */
static inline const uint8_t *skip_digits(const uint8_t *p, const uint8_t *end)
{
    while (end - p >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        uint64_t x = w ^ 0x3030303030303030ull;
        uint64_t nd = (((x & 0x7f7f7f7f7f7f7f7full) + 0x7676767676767676ull) | x) &
                      0x8080808080808080ull;
        if (nd)
            return p + (__builtin_ctzll(nd) >> 3);
        p += 8;
    }
    while (p < end && digit(*p))
        p++;
    return p;
}

/* End of a valid number starting at p, or 0 (reads only [p, end)).
 * RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static inline const uint8_t *number_end(const uint8_t *p, const uint8_t *end)
{
    if (*p == '-')
        p++;
    if (p >= end || !digit(*p))
        return 0;
    p = *p == '0' ? p + 1 : skip_digits(p, end);
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !digit(*p))
            return 0;
        p = skip_digits(p, end);
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !digit(*p))
            return 0;
        p = skip_digits(p, end);
    }
    return p;
}

static int fail(json_s2 *s, int status, int err, uint64_t off)
{
    s->status = status;
    s->err = err;
    s->err_off = off;
    return -1;
}

static inline int literal_ok(const uint8_t *in, uint64_t len, uint64_t pos, const char *w,
                             uint64_t n)
{
    if (len - pos < n)
        return 0;
    for (uint64_t i = 0; i < n; i++)
        if (in[pos + i] != (uint8_t)w[i])
            return 0;
    return pos + n == len || eh_json_is_term[in[pos + n]];
}

/* Tape upkeep (with_tape is a compile-time constant in each caller, so the
 * validate-only loop carries none of it). Entry k = {offset, link}: link is
 * the matching close's entry for '{'/'[', the open's for '}'/']', else 0.
 * Entries past tape_cap are counted, not written. */
#define TAPE_TOKEN()                                                        \
    do {                                                                    \
        if (with_tape && c != ',' && c != ':') {                            \
            if (nt < s->tape_cap) {                                         \
                s->tape[2 * nt] = (uint32_t)pos;                            \
                s->tape[2 * nt + 1] = 0;                                    \
            }                                                               \
            nt++;                                                           \
        }                                                                   \
    } while (0)
#define TAPE_OPEN()                                                         \
    do {                                                                    \
        if (with_tape)                                                      \
            s->open_at[depth - 1] = (uint32_t)(nt - 1);                     \
    } while (0)
#define TAPE_CLOSE() /* after depth-- */                                    \
    do {                                                                    \
        if (with_tape && nt - 1 < s->tape_cap) {                            \
            uint32_t o_ = s->open_at[depth];                                \
            s->tape[2 * (uint64_t)o_ + 1] = (uint32_t)(nt - 1);             \
            s->tape[2 * (nt - 1) + 1] = o_;                                 \
        }                                                                   \
    } while (0)

/* One label per grammar state; a token moves control straight to the next
 * state's label (no dispatch per token). NEXT(ST) fetches the next token, or
 * saves ST and returns when the chunk's positions are used up. */
#define NEXT(ST)                   \
    do {                           \
        if (++i >= n) {            \
            st = (ST);             \
            goto out;              \
        }                          \
        pos = idx[i];              \
        c = in[pos];               \
        TAPE_TOKEN();              \
    } while (0)
#define FAIL(STATUS, ERR)                       \
    do {                                        \
        rc = fail(s, (STATUS), (ERR), pos);     \
        goto out;                               \
    } while (0)

static inline __attribute__((always_inline)) int stage2_impl(json_s2 *s, const uint32_t *idx,
                                                            uint64_t n, const int with_tape)
{
    const uint8_t *in = s->in;
    const uint64_t len = s->len;
    int st = s->state;
    uint32_t depth = s->depth;
    uint8_t *stack = s->stack;
    uint64_t nt = s->ntape;
    int rc = 0;
    uint64_t i = 0, pos;
    uint8_t c;
    if (n == 0)
        goto out;
    pos = idx[0];
    c = in[pos];
    TAPE_TOKEN();
    switch (st) {
    case ST_VALUE: goto value;
    case ST_ARRAY_FIRST: goto array_first;
    case ST_ARRAY_NEXT: goto array_next;
    case ST_OBJ_FIRST: goto obj_first;
    case ST_OBJ_NEXT: goto obj_next;
    case ST_COLON: goto colon;
    default: goto after;
    }

array_next:
    if (c == ']')
        FAIL(EH_K_EPARSE, EH_JSON_E_TRAILING_COMMA);
    goto value;
array_first:
    if (c == ']') {
        depth--;
        TAPE_CLOSE();
        NEXT(ST_AFTER);
        goto after;
    }
value:
    switch (c) {
    case '"':
        NEXT(ST_AFTER);
        goto after;
    case '{':
    case '[':
        if (depth >= s->max_depth)
            FAIL(EH_K_EDEPTH, EH_JSON_E_DEPTH);
        stack[depth++] = c == '{';
        TAPE_OPEN();
        if (c == '{') {
            NEXT(ST_OBJ_FIRST);
            goto obj_first;
        }
        NEXT(ST_ARRAY_FIRST);
        goto array_first;
    case 't':
    case 'f':
    case 'n': {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if (!literal_ok(in, len, pos, word, c == 'f' ? 5 : 4))
            FAIL(EH_K_EPARSE, EH_JSON_E_LITERAL);
        NEXT(ST_AFTER);
        goto after;
    }
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        const uint8_t *e = number_end(in + pos, in + len);
        if (!e || (e < in + len && !eh_json_is_term[*e]))
            FAIL(EH_K_EPARSE, EH_JSON_E_NUMBER);
        NEXT(ST_AFTER);
        goto after;
    }
    case ',': case ':': case ']': case '}':
        FAIL(EH_K_EPARSE, EH_JSON_E_EXPECTED_VALUE);
    default:
        FAIL(EH_K_EPARSE, EH_JSON_E_LITERAL);
    }
obj_first:
    if (c == '}') {
        depth--;
        TAPE_CLOSE();
        NEXT(ST_AFTER);
        goto after;
    }
    if (c != '"')
        FAIL(EH_K_EPARSE, EH_JSON_E_EXPECTED_KEY);
    NEXT(ST_COLON);
    goto colon;
obj_next:
    if (c != '"')
        FAIL(EH_K_EPARSE, c == '}' ? EH_JSON_E_TRAILING_COMMA : EH_JSON_E_EXPECTED_KEY);
    NEXT(ST_COLON);
colon:
    if (c != ':')
        FAIL(EH_K_EPARSE, EH_JSON_E_EXPECTED_COLON);
    NEXT(ST_VALUE);
    goto value;
after:
    if (depth == 0)
        FAIL(EH_K_EPARSE, EH_JSON_E_TRAILING);
    if (stack[depth - 1]) {
        if (c == ',') {
            NEXT(ST_OBJ_NEXT);
            goto obj_next;
        }
        if (c != '}')
            FAIL(EH_K_EPARSE, EH_JSON_E_EXPECTED_COMMA);
    } else {
        if (c == ',') {
            NEXT(ST_ARRAY_NEXT);
            goto array_next;
        }
        if (c != ']')
            FAIL(EH_K_EPARSE, EH_JSON_E_EXPECTED_COMMA);
    }
    depth--;
    TAPE_CLOSE();
    NEXT(ST_AFTER);
    goto after;

out:
    s->state = st;
    s->depth = depth;
    s->ntape = nt;
    s->ntokens += i;
    return rc;
}

int eh_json_stage2(json_s2 *s, const uint32_t *idx, uint64_t n)
{
    return s->tape ? stage2_impl(s, idx, n, 1) : stage2_impl(s, idx, n, 0);
}

int eh_json_stage2_finish(json_s2 *s)
{
    if (s->ntokens == 0)
        return fail(s, EH_K_EPARSE, EH_JSON_E_EMPTY, 0);
    if (s->state != ST_AFTER || s->depth != 0)
        return fail(s, EH_K_EPARSE, EH_JSON_E_END, s->len);
    return 0;
}
