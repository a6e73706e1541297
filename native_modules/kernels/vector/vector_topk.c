/* Top-k nearest rows, selected in the caller's output buffer (no allocation).
 *
 * Every row gets a key where smaller is better (the L2 distance, or the
 * negated dot/cosine score); NaN keys are worse than any number, equal keys
 * prefer the lower row. out[0..k) is kept as a max-heap on that order (root =
 * the worst kept row), so a row enters only if it beats the root; a final
 * heap sort leaves out[] best first, and keys turn back into scores. */
#include "kernels/vector/vector.h"

static inline int isnan_f(float x) { return x != x; }

/* Is (ka, ra) strictly better than (kb, rb)? A total order, even with NaNs. */
static inline int better(float ka, uint32_t ra, float kb, uint32_t rb)
{
    if (isnan_f(ka) || isnan_f(kb)) {
        if (isnan_f(ka) && isnan_f(kb))
            return ra < rb;
        return isnan_f(kb);
    }
    if (ka != kb)
        return ka < kb;
    return ra < rb;
}

static inline int worse_rec(const eh_vec_topk_out *a, const eh_vec_topk_out *b)
{
    return better(b->score, b->row, a->score, a->row);
}

static void sift_down(eh_vec_topk_out *h, uint64_t i, uint64_t n)
{
    for (;;) {
        uint64_t l = 2 * i + 1, w = i;
        if (l < n && worse_rec(&h[l], &h[w]))
            w = l;
        if (l + 1 < n && worse_rec(&h[l + 1], &h[w]))
            w = l + 1;
        if (w == i)
            return;
        eh_vec_topk_rec t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

#define BLOCK 256 /* rows scored per ops->rows call; keys live on the stack (1 KiB) */

/* Keys of rows [r0, r0+n) (n <= BLOCK) into key[]: scores the ISA kernels
 * could have lost to overflow or underflow are recomputed per row in float64
 * (vector.h), so a subnormal or huge row ranks by its true score. */
static void block_keys(const eh_vec_ops *ops, const eh_f32 *m, const eh_f32 *q, uint64_t r0,
                       uint64_t n, uint64_t cols, int metric, float qq, float *key)
{
    const eh_f32 *rows = m + r0 * cols;
    if (metric == EH_VEC_L2SQ) {
        eh_vec_rows_checked(ops, EH_VEC_ROWS_L2SQ, rows, q, n, cols, key);
        return;
    }
    if (metric == EH_VEC_DOT) {
        eh_vec_rows_checked(ops, EH_VEC_ROWS_DOT, rows, q, n, cols, key);
        for (uint64_t i = 0; i < n; i++)
            key[i] = -key[i];
        return;
    }
    float norm2[BLOCK];
    ops->rows_cos(rows, q, n, cols, key, norm2);
    int all_fine = eh_vec_fine32(qq) && eh_vec_all_fine32(norm2, n);
    for (uint64_t i = 0; i < n; i++) {
        double r[3] = {key[i], norm2[i], qq};
        int fine = eh_vec_finite(key[i]) &&
                   (all_fine || (eh_vec_fine32(norm2[i]) && eh_vec_fine32(qq)));
        if (!fine)
            eh_vec_dot3_wide(rows + i * cols, q, cols, r);
        key[i] = (float)-eh_vec_cos(r);
    }
}

void eh_vec_topk(const eh_vec_ops *ops, const eh_f32 *m, const eh_f32 *q, uint64_t rows,
                 uint64_t cols, int metric, eh_vec_topk_out *out, uint64_t k)
{
    if (k == 0)
        return;
    float qq = metric == EH_VEC_COSINE ? ops->sumsq(q, cols) : 0.0f;
    float key[BLOCK];
    /* The first k rows fill the heap; every later row must beat its root. */
    for (uint64_t r0 = 0; r0 < rows; r0 += BLOCK) {
        uint64_t n = rows - r0 < BLOCK ? rows - r0 : BLOCK;
        block_keys(ops, m, q, r0, n, cols, metric, qq, key);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t r = r0 + i;
            if (r < k) {
                out[r].row = (uint32_t)r;
                out[r].score = key[i];
                if (r == k - 1)
                    for (uint64_t j = k / 2; j-- > 0;)
                        sift_down(out, j, k);
            } else if (better(key[i], (uint32_t)r, out[0].score, out[0].row)) {
                out[0].row = (uint32_t)r;
                out[0].score = key[i];
                sift_down(out, 0, k);
            }
        }
    }
    for (uint64_t n = k; n-- > 1;) {
        eh_vec_topk_rec t = out[0];
        out[0] = out[n];
        out[n] = t;
        sift_down(out, 0, n);
    }
    if (metric != EH_VEC_L2SQ)
        for (uint64_t r = 0; r < k; r++)
            out[r].score = -out[r].score;
}
