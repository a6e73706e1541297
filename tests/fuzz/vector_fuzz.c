/* libFuzzer target for the vector kernels. The header bytes pick the
 * operation, the element type, the buffers' misalignment, the matrix shape
 * and top-k's k and metric; the rest are the elements -- any bit patterns, so
 * NaN, inf, subnormal and huge values come for free. Every variant this CPU
 * runs is checked against a long double reference computed here, with the
 * bounds vector.h documents (exact below: 80-bit products of floats and
 * doubles, no overflow in its range), and all variants must agree on the
 * status. Buffers are exact-size allocations at odd offsets (ASan, UBSan's
 * alignment check). */
#include <math.h>
#include "fuzz_common.h"
#include "kernels/vector/vector.h"

typedef long double ld;

static const char *names[] = {"scalar", "avx2", "avx512"};

typedef struct {
    int f64;
    uint64_t n; /* elements per vector (paired ops) or of the matrix */
    const uint8_t *a, *b;
} args_t;

static ld elem(const uint8_t *p, uint64_t i, int f64)
{
    if (f64) {
        double d;
        memcpy(&d, p + 8 * i, 8);
        return d;
    }
    float f;
    memcpy(&f, p + 4 * i, 4);
    return f;
}

static double result(const eh_offload_res *r, int f64)
{
    if (f64) {
        double d;
        memcpy(&d, &r->value, 8);
        return d;
    }
    float f;
    uint32_t u = (uint32_t)r->value;
    memcpy(&f, &u, 4);
    return f;
}

/* got (a result of the type) against the exact value ex within tol (plus the
 * result's own rounding): NaN exactly where ex is NaN, inf where ex is
 * beyond the type's range by more than tol (finite right below its edge is
 * accepted, and so is a finite result within tol of an ex beyond the range:
 * huge terms that cancel, where vector.h's bound exceeds the range itself --
 * (a, a).(b, -b') with b' one ulp above b and a*b near 2^1800: float64
 * products of the scaled mantissas round the 2^-52 difference away, found by
 * the fuzzer). */
static void check(const char *what, const char *var, double got, ld ex, ld tol, int f64)
{
    ld max = f64 ? 1.7976931348623157e308L : 3.4028234663852886e38L;
    ld u = f64 ? 0x1p-53L : 0x1p-24L, smin = f64 ? 0x1p-1074L : 0x1p-149L;
    if (isnan(ex)) {
        FUZZ_CHECK(isnan(got), "%s/%s: %g, want NaN", what, var, got);
        return;
    }
    if (isinf(ex) || fabsl(ex) - tol > max * (1 + 4 * u)) {
        FUZZ_CHECK(isinf(got) && signbit(got) == signbit(ex), "%s/%s: %g, want %Lg", what, var,
                   got, ex);
        return;
    }
    if (isinf(got)) { /* only right at the edge, where rounding may go either way */
        FUZZ_CHECK(fabsl(ex) + tol >= max * (1 - 4 * u), "%s/%s: inf, want %Lg", what, var, ex);
        return;
    }
    FUZZ_CHECK(!isnan(got), "%s/%s: NaN, want %Lg", what, var, ex);
    ld err = fabsl((ld)got - ex), lim = tol + fabsl(ex) * 2 * u + 2 * smin;
    FUZZ_CHECK(err <= lim, "%s/%s: %.17g, want %.20Lg (error %Lg > %Lg)", what, var, got, ex, err,
               lim);
}

/* Exact sums of a.b, |a-b|^2, a.a and sum a, with the sum of |terms| for the bounds. */
typedef struct {
    ld dot, dot_abs, l2sq, l2sq_abs, aa, bb, sum, sum_abs;
} exact_t;

static exact_t exact(const uint8_t *a, const uint8_t *b, uint64_t n, int f64)
{
    exact_t e = {0, 0, 0, 0, 0, 0, 0, 0};
    for (uint64_t i = 0; i < n; i++) {
        ld x = elem(a, i, f64), y = b ? elem(b, i, f64) : 0;
        ld d = x - y;
        e.dot += x * y;
        e.dot_abs += fabsl(x * y);
        e.l2sq += d * d;
        e.aa += x * x;
        e.bb += y * y;
        e.sum += x;
        e.sum_abs += fabsl(x);
    }
    e.l2sq_abs = e.l2sq;
    return e;
}

static ld cosine(exact_t e) { return e.dot / (sqrtl(e.aa) * sqrtl(e.bb)); }

/* Copies len bytes to a fresh allocation at offset off (misaligned on purpose). */
static uint8_t *place(const uint8_t *src, uint64_t len, unsigned off, uint8_t **base)
{
    *base = malloc(len + off + 1);
    memcpy(*base + off, src, len);
    return *base + off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 4)
        return 0;
    const uint8_t op = data[0] % 8, f64 = (data[0] >> 3) & 1 && op != 7;
    const unsigned off_a = data[1] & 7, off_b = (data[1] >> 3) & 7, off_o = data[2] & 7;
    const uint64_t cols = 1 + (data[2] >> 3), k = data[3] & 63, metric = (data[3] >> 6) % 3;
    const uint64_t es = f64 ? 8 : 4, n_all = (size - 4) / es;
    const uint8_t *body = data + 4;
    static const uint32_t kernels[8] = {EH_KERNEL_VEC_DOT, EH_KERNEL_VEC_SUM,
                                        EH_KERNEL_VEC_L2NORM, EH_KERNEL_VEC_L2SQ,
                                        EH_KERNEL_VEC_COSINE, EH_KERNEL_VEC_AXPY,
                                        EH_KERNEL_VEC_MATVEC, EH_KERNEL_VEC_TOPK};
    uint64_t len_a, len_b;
    ld alpha = 0;
    uint64_t arg[4] = {0, 0, 0, 0};
    if (op == 6 || op == 7) { /* matrix (rows x cols) then q (cols) */
        uint64_t rows = n_all >= cols ? n_all / cols - 1 : 0;
        len_a = rows * cols * es;
        len_b = n_all >= cols ? cols * es : 0;
        if (op == 7) {
            arg[0] = k;
            arg[1] = metric;
        }
    } else if (op == 5) { /* axpy: alpha, then x and y */
        if (n_all < 1)
            return 0;
        alpha = elem(body, 0, f64);
        memcpy(&arg[0], body, es);
        body += es;
        len_a = len_b = (n_all - 1) / 2 * es;
    } else {
        len_a = (op == 1 || op == 2) ? n_all * es : n_all / 2 * es;
        len_b = (op == 1 || op == 2) ? 0 : len_a;
    }
    uint8_t *ba, *bb, *bo;
    const uint8_t *a = place(body, len_a, off_a, &ba), *b = place(body + len_a, len_b, off_b, &bb);
    uint64_t cap = op == 5 ? len_a : op == 6 ? (len_b ? len_a / len_b * es : 0) : op == 7 ? 8 * k : 0;
    bo = malloc(cap + off_o + 1);
    uint8_t *out = bo + off_o;
    const uint64_t n = len_a / es;
    exact_t e = exact(a, len_b && op != 6 && op != 7 ? b : 0, n, f64);
    ld u = f64 ? 0x1p-53L : 0x1p-24L;
    int first_status = 1, have = 0;
    for (int v = 0; v < 3; v++) {
        if (eh_vector_set_variant(names[v]) != 0)
            continue;
        eh_offload_res res;
        memset(out, 0xA5, cap);
        run_req(kernels[op], f64 ? EH_VEC_F64 : 0, arg, a, len_a, b, len_b, out, cap, &res);
        if (!have) {
            first_status = res.status;
            have = 1;
        }
        FUZZ_CHECK(res.status == first_status, "%s: status %d, scalar %d", names[v],
                   res.status, first_status);
        if (res.status != EH_K_OK)
            continue;
        double got = result(&res, f64);
        switch (op) {
        case 0: check("dot", names[v], got, e.dot, 2 * n * u * e.dot_abs, f64); break;
        case 1: check("sum", names[v], got, e.sum, 2 * n * u * e.sum_abs, f64); break;
        case 2:
            check("l2norm", names[v], got, sqrtl(e.aa), sqrtl(e.aa) * (n / 2.0L + 2) * u, f64);
            break;
        case 3: check("l2sq", names[v], got, e.l2sq, 2 * n * u * e.l2sq_abs, f64); break;
        case 4: check("cosine", names[v], got, cosine(e), (2 * n + 4) * u, f64); break;
        case 5:
            for (uint64_t i = 0; i < n; i++) { /* float64 without FMA: + one ulp of alpha*x */
                ld ax = alpha * elem(a, i, f64);
                check("axpy", names[v], (double)elem(out, i, f64), ax + elem(b, i, f64),
                      f64 ? 2 * u * fabsl(ax) : 0, f64);
            }
            break;
        case 6:
            for (uint64_t r = 0; len_b && r < len_a / len_b; r++) {
                exact_t er = exact(a + r * len_b, b, cols, f64);
                check("matvec", names[v], (double)elem(out, r, f64), er.dot,
                      2 * cols * u * er.dot_abs, 0 + f64);
            }
            break;
        default: {
            uint64_t rows = len_b ? len_a / len_b : 0, cnt = k < rows ? k : rows;
            ld worst = -INFINITY; /* max over kept rows of exact key - bound (smaller is better) */
            int kept_nan = 0;     /* NaN scores rank last: none kept while a number is left */
            uint8_t *seen = calloc(rows + 1, 1);
            FUZZ_CHECK(res.value == cnt, "topk/%s: %llu records", names[v],
                       (unsigned long long)res.value);
            for (uint64_t j = 0; j < cnt; j++) {
                uint32_t row;
                float score;
                memcpy(&row, out + 8 * j, 4);
                memcpy(&score, out + 8 * j + 4, 4);
                FUZZ_CHECK(row < rows, "topk/%s: row %u", names[v], row);
                exact_t er = exact(a + row * len_b, b, cols, 0);
                ld want = metric == EH_VEC_L2SQ ? er.l2sq : metric == EH_VEC_DOT ? er.dot
                                                                               : cosine(er);
                ld tol = metric == EH_VEC_COSINE ? (2 * cols + 4) * u
                         : 2 * cols * u * (metric == EH_VEC_DOT ? er.dot_abs : er.l2sq_abs);
                check("topk", names[v], score, want, tol, 0);
                seen[row] = 1;
                want = fabsl(want) > 3.4028234663852886e38L ? copysignl(INFINITY, want) : want;
                ld key = metric == EH_VEC_L2SQ ? want : -want; /* scores saturate at +-inf */
                tol += fabsl(want) * 2 * u + 0x1p-148L; /* + the score's rounding to float32 */
                kept_nan |= isnan(key);
                if (!isnan(key) && key - tol > worst)
                    worst = key - tol;
            }
            /* Complete: no row left out is surely better than a kept one
             * (its key + bound below a kept key - bound); near-ties and
             * cancellations within the bounds may go either way. */
            for (uint64_t r = 0; cnt && r < rows; r++) {
                if (seen[r])
                    continue;
                exact_t er = exact(a + r * len_b, b, cols, 0);
                ld want = metric == EH_VEC_L2SQ ? er.l2sq : metric == EH_VEC_DOT ? er.dot
                                                                               : cosine(er);
                ld tol = metric == EH_VEC_COSINE ? (2 * cols + 4) * u
                         : 2 * cols * u * (metric == EH_VEC_DOT ? er.dot_abs : er.l2sq_abs);
                want = fabsl(want) > 3.4028234663852886e38L ? copysignl(INFINITY, want) : want;
                ld key = metric == EH_VEC_L2SQ ? want : -want;
                tol += fabsl(want) * 2 * u + 0x1p-148L;
                FUZZ_CHECK(isnan(key) || !kept_nan, "topk/%s: NaN kept before row %llu (%Lg)",
                           names[v], (unsigned long long)r, want);
                FUZZ_CHECK(isnan(key) || isinf(worst) || key + tol >= worst,
                           "topk/%s: row %llu (%Lg) left out, worst kept %Lg", names[v],
                           (unsigned long long)r, want, worst);
            }
            free(seen);
            break;
        }
        }
    }
    free(ba);
    free(bb);
    free(bo);
    return 0;
}
