/* The vector operations, written once over the vector layer (vector_simd.h)
 * and included per ISA file, twice: with VEC_F64 0 (the float32 ops table,
 * eh_vec_<VEC_ISA>_ops) and VEC_F64 1 (float64, eh_vec_<VEC_ISA>_ops64)
 * (zlib-ng's *_tpl.h). The including file defines VEC_ISA (its variant name)
 * inside its kernels/isa/begin.h region, after including vector_simd.h.
 *
 * Every reduction keeps four vector accumulators (independent FMA chains)
 * over 4*W elements per step, then W-element steps, then one masked step for
 * the tail (vX_loadn: nothing past the end is read). Sums are therefore
 * reassociated across lanes (vector.h states the error bound); the results
 * that can overflow or underflow are checked and recomputed by vector.c. */
#ifndef VEC_F64
#error "define VEC_F64 (0 or 1) before including vector_tpl.h"
#endif

#if VEC_F64
#define T double
#define TU eh_f64
#define L(op) vd_##op
#define LT vd_t
#define LW VD_W
#define FN(x) x##_f64
#else
#define T float
#define TU eh_f32
#define L(op) vs_##op
#define LT vs_t
#define LW VS_W
#define FN(x) x##_f32
#endif
#define VEC_CAT3_(a, b, c) a##b##c
#define VEC_CAT3(a, b, c) VEC_CAT3_(a, b, c)

static inline LT FN(sqd)(LT acc, LT x, LT y)
{
    LT d = L(sub)(x, y);
    return L(fma)(d, d, acc);
}

/* kind: 0 = a.b, 1 = |a - b|^2, 2 = sum a, 3 = a.a (b unused for 2 and 3:
 * a.a loads a once). One body for the single reductions so they keep one
 * loop shape. */
static inline __attribute__((always_inline)) T FN(reduce)(int kind, const TU *a, const TU *b,
                                                          uint64_t n)
{
    LT s0 = L(zero)(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
#define VEC_TERM(acc, x, y)                                                              \
    (kind == 0 ? L(fma)(x, y, acc) : kind == 1 ? FN(sqd)(acc, x, y)                      \
     : kind == 2 ? L(add)(acc, x) : L(fma)(x, x, acc))
#define VEC_B(off) (kind >= 2 ? L(zero)() : L(load)(b + i + (off)))
    for (; i + 4 * LW <= n; i += 4 * LW) {
        s0 = VEC_TERM(s0, L(load)(a + i), VEC_B(0));
        s1 = VEC_TERM(s1, L(load)(a + i + LW), VEC_B(LW));
        s2 = VEC_TERM(s2, L(load)(a + i + 2 * LW), VEC_B(2 * LW));
        s3 = VEC_TERM(s3, L(load)(a + i + 3 * LW), VEC_B(3 * LW));
    }
    for (; i + LW <= n; i += LW)
        s0 = VEC_TERM(s0, L(load)(a + i), VEC_B(0));
    if (i < n)
        s1 = VEC_TERM(s1, L(loadn)(a + i, n - i),
                      kind >= 2 ? L(zero)() : L(loadn)(b + i, n - i));
#undef VEC_B
#undef VEC_TERM
    return L(hsum)(L(add)(L(add)(s0, s1), L(add)(s2, s3)));
}

static T FN(dot)(const TU *a, const TU *b, uint64_t n) { return FN(reduce)(0, a, b, n); }
static T FN(l2sq)(const TU *a, const TU *b, uint64_t n) { return FN(reduce)(1, a, b, n); }
static T FN(sum)(const TU *a, uint64_t n) { return FN(reduce)(2, a, a, n); }
static T FN(sumsq)(const TU *a, uint64_t n) { return FN(reduce)(3, a, a, n); }

/* out[i] = alpha*x[i] + y[i]; out may be exactly y (each step loads first). */
static void FN(axpy)(T alpha, const TU *x, const TU *y, TU *out, uint64_t n)
{
    const LT va = L(set1)(alpha);
    uint64_t i = 0;
    for (; i + 2 * LW <= n; i += 2 * LW) {
        LT r0 = L(axpy)(va, L(load)(x + i), L(load)(y + i));
        LT r1 = L(axpy)(va, L(load)(x + i + LW), L(load)(y + i + LW));
        L(store)(out + i, r0);
        L(store)(out + i + LW, r1);
    }
    for (; i < n; i += LW) {
        uint64_t k = n - i < LW ? n - i : LW;
        L(storen)(out + i, L(axpy)(va, L(loadn)(x + i, k), L(loadn)(y + i, k)), k);
    }
#if VEC_F64 && !VD_AXPY_EXACT
    /* Without FMA alpha*x may overflow where alpha*x + y does not: redo
     * those elements halved (exact scaling by powers of two). */
    for (i = 0; i < n; i++) {
        double r = out[i];
        if (r - r != 0 && alpha - alpha == 0 && x[i] - x[i] == 0 && y[i] - y[i] == 0)
            out[i] = ((alpha * 0.5) * x[i] + 0.5 * y[i]) * 2.0;
    }
#endif
}

/* r[0] = a.b, r[1] = a.a, r[2] = b.b in one pass (two accumulators each). */
static void FN(dot3)(const TU *a, const TU *b, uint64_t n, T r[3])
{
    LT ab0 = L(zero)(), ab1 = ab0, aa0 = ab0, aa1 = ab0, bb0 = ab0, bb1 = ab0;
    uint64_t i = 0;
    for (; i + 2 * LW <= n; i += 2 * LW) {
        LT x0 = L(load)(a + i), y0 = L(load)(b + i);
        LT x1 = L(load)(a + i + LW), y1 = L(load)(b + i + LW);
        ab0 = L(fma)(x0, y0, ab0);
        aa0 = L(fma)(x0, x0, aa0);
        bb0 = L(fma)(y0, y0, bb0);
        ab1 = L(fma)(x1, y1, ab1);
        aa1 = L(fma)(x1, x1, aa1);
        bb1 = L(fma)(y1, y1, bb1);
    }
    for (; i < n; i += LW) {
        uint64_t k = n - i < LW ? n - i : LW;
        LT x = L(loadn)(a + i, k), y = L(loadn)(b + i, k);
        ab0 = L(fma)(x, y, ab0);
        aa0 = L(fma)(x, x, aa0);
        bb0 = L(fma)(y, y, bb0);
    }
    r[0] = L(hsum)(L(add)(ab0, ab1));
    r[1] = L(hsum)(L(add)(aa0, aa1));
    r[2] = L(hsum)(L(add)(bb0, bb1));
}

#if !VEC_F64
/* Row kernels (float32 only: matvec and top-k). Four rows per pass so q is
 * loaded once for all four, two accumulators per row (8 independent FMA
 * chains), the rows PF_ROWS ahead prefetched one 64-byte line at a time.
 * ROWS_COS (internal) fills out with m_r.q and out2 with m_r.m_r. */
#define PF_ROWS 16 /* ~8 KB ahead at 128 columns */
#define ROWS_COS 3

static inline void prefetch_lines(const eh_f32 *p, uint64_t floats)
{
    for (uint64_t b = 0; b < floats * 4; b += 64)
        __builtin_prefetch((const char *)p + b);
}

/* Adds the terms of x (a row's W columns) against y (q's) to the row's two
 * accumulators s[0], s[1]: for ROWS_COS the dot and the norm, else the
 * half (part 0 or 1) of the row's one quantity. */
static inline __attribute__((always_inline)) void row_terms(int kind, int part, vs_t x, vs_t y,
                                                             vs_t s[2])
{
    if (kind == ROWS_COS) {
        s[0] = vs_fma(x, y, s[0]);
        s[1] = vs_fma(x, x, s[1]);
    } else if (kind == EH_VEC_ROWS_L2SQ) {
        s[part] = FN(sqd)(s[part], x, y);
    } else {
        s[part] = vs_fma(x, kind == EH_VEC_ROWS_NORM2 ? x : y, s[part]);
    }
}

static inline __attribute__((always_inline)) void rows_k(int kind, const eh_f32 *m,
                                                          const eh_f32 *q, uint64_t n,
                                                          uint64_t cols, eh_f32 *out,
                                                          eh_f32 *out2)
{
    uint64_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const eh_f32 *p[4] = {m + r * cols, m + (r + 1) * cols, m + (r + 2) * cols,
                              m + (r + 3) * cols};
        vs_t s[4][2];
        for (int i = 0; i < 4; i++)
            s[i][0] = s[i][1] = vs_zero();
        uint64_t c = 0;
        for (; c + 2 * VS_W <= cols; c += 2 * VS_W) {
            vs_t q0 = vs_load(q + c), q1 = vs_load(q + c + VS_W);
            for (int i = 0; i < 4; i++) {
                prefetch_lines(p[i] + PF_ROWS * cols + c, 2 * VS_W);
                row_terms(kind, 0, vs_load(p[i] + c), q0, s[i]);
                row_terms(kind, 1, vs_load(p[i] + c + VS_W), q1, s[i]);
            }
        }
        for (; c < cols; c += VS_W) {
            uint64_t k = cols - c < VS_W ? cols - c : VS_W;
            vs_t q0 = vs_loadn(q + c, k);
            for (int i = 0; i < 4; i++)
                row_terms(kind, 0, vs_loadn(p[i] + c, k), q0, s[i]);
        }
        float t[4], t2[4];
        if (kind == ROWS_COS) {
            vs_reduce4(s[0][0], s[1][0], s[2][0], s[3][0], t);
            vs_reduce4(s[0][1], s[1][1], s[2][1], s[3][1], t2);
        } else {
            vs_reduce4(vs_add(s[0][0], s[0][1]), vs_add(s[1][0], s[1][1]),
                       vs_add(s[2][0], s[2][1]), vs_add(s[3][0], s[3][1]), t);
        }
        for (int i = 0; i < 4; i++) {
            out[r + i] = t[i];
            if (kind == ROWS_COS)
                out2[r + i] = t2[i];
        }
    }
    for (; r < n; r++) {
        const eh_f32 *row = m + r * cols;
        if (kind == ROWS_COS) {
            float t[3];
            dot3_f32(row, q, cols, t);
            out[r] = t[0];
            out2[r] = t[1];
        } else {
            out[r] = kind == EH_VEC_ROWS_L2SQ ? l2sq_f32(row, q, cols)
                     : kind == EH_VEC_ROWS_DOT ? dot_f32(row, q, cols)
                                               : sumsq_f32(row, cols);
        }
    }
}

static void rows_f32(int kind, const eh_f32 *m, const eh_f32 *q, uint64_t n, uint64_t cols,
                     eh_f32 *out)
{
    if (kind == EH_VEC_ROWS_DOT)
        rows_k(EH_VEC_ROWS_DOT, m, q, n, cols, out, 0);
    else if (kind == EH_VEC_ROWS_L2SQ)
        rows_k(EH_VEC_ROWS_L2SQ, m, q, n, cols, out, 0);
    else
        rows_k(EH_VEC_ROWS_NORM2, m, q, n, cols, out, 0);
}

static void rows_cos_f32(const eh_f32 *m, const eh_f32 *q, uint64_t n, uint64_t cols, eh_f32 *d,
                         eh_f32 *norm2)
{
    rows_k(ROWS_COS, m, q, n, cols, d, norm2);
}
#undef PF_ROWS
#undef ROWS_COS

const eh_vec_ops VEC_CAT3(eh_vec_, VEC_ISA, _ops) = {dot_f32, sum_f32, sumsq_f32, l2sq_f32,
                                                     axpy_f32, dot3_f32, rows_f32, rows_cos_f32};
#else
const eh_vec_ops64 VEC_CAT3(eh_vec_, VEC_ISA, _ops64) = {dot_f64, sum_f64, sumsq_f64, l2sq_f64,
                                                         axpy_f64, dot3_f64};
#endif

#undef T
#undef TU
#undef L
#undef LT
#undef LW
#undef FN
#undef VEC_F64
