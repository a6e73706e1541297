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

static inline int worse_rec(const eh_vec_topk_rec *a, const eh_vec_topk_rec *b)
{
    return better(b->score, b->row, a->score, a->row);
}

static void sift_down(eh_vec_topk_rec *h, uint64_t i, uint64_t n)
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

static inline float row_key(const eh_vec_ops *ops, const float *row, const float *q,
                            uint64_t cols, int metric, float qq)
{
    if (metric == EH_VEC_L2SQ)
        return ops->l2sq(row, q, cols);
    if (metric == EH_VEC_DOT)
        return -ops->dot(row, q, cols);
    float r[3];
    ops->dot3(row, q, cols, r);
    r[2] = qq; /* the query's own norm, computed once */
    return -eh_vec_cos(r);
}

void eh_vec_topk(const eh_vec_ops *ops, const float *m, const float *q, uint64_t rows,
                 uint64_t cols, int metric, eh_vec_topk_rec *out, uint64_t k)
{
    if (k == 0)
        return;
    float qq = metric == EH_VEC_COSINE ? ops->dot(q, q, cols) : 0.0f;
    for (uint64_t r = 0; r < k; r++) {
        out[r].row = (uint32_t)r;
        out[r].score = row_key(ops, m + r * cols, q, cols, metric, qq);
    }
    for (uint64_t i = k / 2; i-- > 0;)
        sift_down(out, i, k);
    for (uint64_t r = k; r < rows; r++) {
        float key = row_key(ops, m + r * cols, q, cols, metric, qq);
        if (better(key, (uint32_t)r, out[0].score, out[0].row)) {
            out[0].row = (uint32_t)r;
            out[0].score = key;
            sift_down(out, 0, k);
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
