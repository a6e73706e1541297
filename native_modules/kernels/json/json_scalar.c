/* JSON scalars: exact integer classification and the table of bytes that may
 * end a scalar. All readers stay inside [p, end). */
#include "kernels/json/json.h"

#define T1(c) [c] = 1
const uint8_t eh_json_is_term[256] = {
    T1(' '), T1('\t'), T1('\n'), T1('\r'), T1(','), T1(':'),
    T1('['), T1(']'), T1('{'), T1('}'), T1('"'),
};

static inline int digit(uint8_t c) { return (uint8_t)(c - '0') < 10; }

int eh_json_number_type(const uint8_t *p, const uint8_t *end, uint64_t *value)
{
    int neg = 0;
    *value = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    uint64_t v = 0;
    int big = 0;
    for (; p < end && digit(*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            big = 1;
        else
            v = v * 10 + d;
    }
    if (p < end && (*p == '.' || (*p | 0x20) == 'e'))
        return EH_JSON_T_DOUBLE;
    if (big)
        return EH_JSON_T_BIGINT;
    if (neg) {
        if (v > (uint64_t)1 << 63)
            return EH_JSON_T_BIGINT;
        *value = (uint64_t)0 - v;
        return EH_JSON_T_INT64;
    }
    *value = v;
    return v > (uint64_t)INT64_MAX ? EH_JSON_T_UINT64 : EH_JSON_T_INT64;
}
