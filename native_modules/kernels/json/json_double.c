/* JSON number text -> the nearest double (round half to even), freestanding.
 *
 * The decimal is read as w * 10^q with up to 19 significant digits in w.
 *  1. Clinger's fast path: w <= 2^53 and |q| <= 22 -- both w and 10^|q| are
 *     exact doubles, so one IEEE multiply/divide rounds correctly.
 *  2. Eisel-Lemire (Lemire, "Number Parsing at a Gigabyte per Second", 2021):
 *     w normalized times the 128-bit truncated 5^q (json_pow5.h) gives the
 *     53 leading bits plus enough guard bits to round, except in cases the
 *     algorithm itself detects as undecidable.
 *  3. More than 19 significant digits: the result for w and for w+1 must agree
 *     (the true value lies between them).
 * Whatever none of these decides is reported as undecided (return 0): the
 * caller then has the exact text and converts it with a slow exact routine
 * (the Python API uses float()). Nothing is ever rounded wrongly. */
#include "kernels/json/json.h"
#include "kernels/json/json_pow5.h"

static inline void mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
#if defined(__SIZEOF_INT128__) && defined(__x86_64__)
    unsigned __int128 r = (unsigned __int128)a * b;
    *hi = (uint64_t)(r >> 64);
    *lo = (uint64_t)r;
#else /* no __multi3 helper in wasm32/guest builds */
    uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
    uint64_t p0 = al * bl, p1 = al * bh, p2 = ah * bl, p3 = ah * bh;
    uint64_t mid = (p0 >> 32) + (uint32_t)p1 + (uint32_t)p2;
    *lo = (mid << 32) | (uint32_t)p0;
    *hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
#endif
}

static inline int clz64(uint64_t x) { return __builtin_clzll(x); } /* x != 0 */

#define MANT_BITS 52
#define INF_POWER 0x7ff

/* Bits of w * 10^q (w != 0, no sign), or -1 when undecided. */
static int64_t eisel_lemire(int64_t q, uint64_t w)
{
    if (q < EH_POW5_MIN)
        return 0;
    if (q > EH_POW5_MAX)
        return (int64_t)INF_POWER << MANT_BITS;
    int lz = clz64(w);
    w <<= lz;
    const uint64_t *t = eh_pow5_128[q - EH_POW5_MIN];
    uint64_t hi, lo;
    mul128(w, t[0], &hi, &lo);
    if ((hi & 0x1ff) == 0x1ff) { /* the low word of 5^q may carry into the bits we keep */
        uint64_t h2, l2;
        mul128(w, t[1], &h2, &l2);
        lo += h2;
        hi += lo < h2;
    }
    if (lo == UINT64_MAX && (q < -27 || q > 55))
        return -1;
    int upper = (int)(hi >> 63);
    uint64_t mant = hi >> (upper + 64 - MANT_BITS - 3);
    /* floor(q * log2(10)) + 63, exact over the table's range */
    int64_t power2 = ((q * 217706) >> 16) + 63 + upper - lz + 1023;
    if (power2 <= 0) { /* subnormal */
        if (-power2 + 1 >= 64)
            return 0;
        mant >>= -power2 + 1;
        mant += mant & 1;
        mant >>= 1;
        power2 = mant >= (1ull << MANT_BITS);
        return (int64_t)((uint64_t)power2 << MANT_BITS | (mant & ((1ull << MANT_BITS) - 1)));
    }
    /* exactly halfway with an even lower neighbour: round down, not up */
    if (lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1 &&
        (mant << (upper + 64 - MANT_BITS - 3)) == hi)
        mant &= ~1ull;
    mant += mant & 1;
    mant >>= 1;
    if (mant >= (2ull << MANT_BITS)) {
        mant = 1ull << MANT_BITS;
        power2++;
    }
    mant &= ~(1ull << MANT_BITS);
    if (power2 >= INF_POWER)
        return (int64_t)INF_POWER << MANT_BITS;
    return (int64_t)((uint64_t)power2 << MANT_BITS | mant);
}

static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline int digit(uint8_t c) { return (uint8_t)(c - '0') < 10; }

int eh_json_number_double(const uint8_t *p, const uint8_t *end, uint64_t *bits)
{
    uint64_t sign = 0, w = 0;
    int nd = 0, truncated = 0;
    int64_t q = 0;
    if (p < end && *p == '-') {
        sign = 1ull << 63;
        p++;
    }
    for (; p < end && digit(*p); p++) {
        if (w == 0 && *p == '0')
            continue;
        if (nd < 19) {
            w = w * 10 + (uint64_t)(*p - '0');
            nd++;
        } else {
            q++;
            truncated |= *p != '0';
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && digit(*p); p++) {
            if (nd < 19 && (w != 0 || *p != '0')) {
                w = w * 10 + (uint64_t)(*p - '0');
                nd++;
                q--;
            } else if (w == 0) {
                q--; /* leading zero of the fraction */
            } else {
                truncated |= *p != '0';
            }
        }
    }
    if (p < end && (*p | 0x20) == 'e') {
        int neg = 0;
        int64_t e = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            neg = *p++ == '-';
        for (; p < end && digit(*p); p++)
            if (e < 100000) /* far past any double; keeps q from overflowing */
                e = e * 10 + (*p - '0');
        q += neg ? -e : e;
    }
    if (w == 0) {
        *bits = sign;
        return 1;
    }
    if (!truncated && w <= (1ull << 53) && q >= -22 && q <= 22) {
        double d = (double)w;
        d = q < 0 ? d / exact_pow10[-q] : d * exact_pow10[q];
        __builtin_memcpy(bits, &d, 8);
        *bits |= sign;
        return 1;
    }
    int64_t r = eisel_lemire(q, w);
    if (r < 0 || (truncated && eisel_lemire(q, w + 1) != r))
        return 0;
    *bits = (uint64_t)r | sign;
    return 1;
}
