/* Drives every typed vector helper of the C SDK (tests/integration/test_sdk_c_vector.py).
 * Input: u32 op, u32 n, u32 rows, u32 k, u32 metric, f32 alpha, then the floats
 * (a then b; for matvec/topk the rows x n matrix, then the n-float vector).
 * Output: i32 rc, i32 res.status, u32 res.out_len, u32 res.value, then the
 * scalar (f32) or the output array (floats, or topk hits). */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

enum { DOT, SUM, L2NORM, L2SQ, COSINE, AXPY, MATVEC, TOPK };

static uint32_t word(const uint8_t *in, uint32_t i)
{
    const uint8_t *p = in + 4 * i;
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float out_floats[1 << 14];
static uint32_t head[4];

EDGEHOST_HANDLER(vec)
{
    if (in_len < 24)
        return 1;
    uint32_t op = word(in, 0), n = word(in, 1), rows = word(in, 2), k = word(in, 3);
    uint32_t metric = word(in, 4);
    const float *f = (const float *)(in + 20); /* alpha, then the arrays (4-byte aligned) */
    float alpha = f[0];
    const float *a = f + 1, *b = a + (op >= MATVEC ? rows * n : n);
    eh_offload_result res = {0};
    float scalar = 0;
    uint32_t out_bytes = 0;
    int32_t rc;
    switch (op) {
    case DOT: rc = eh_vec_dot(a, b, n, &scalar, &res); break;
    case SUM: rc = eh_vec_sum(a, n, &scalar, &res); break;
    case L2NORM: rc = eh_vec_l2norm(a, n, &scalar, &res); break;
    case L2SQ: rc = eh_vec_l2sq(a, b, n, &scalar, &res); break;
    case COSINE: rc = eh_vec_cosine(a, b, n, &scalar, &res); break;
    case AXPY:
        rc = eh_vec_axpy(alpha, a, b, n, out_floats, &res);
        out_bytes = 4 * n;
        break;
    case MATVEC:
        rc = eh_vec_matvec(a, rows, b, n, out_floats, &res);
        out_bytes = 4 * rows;
        break;
    case TOPK:
        rc = eh_vec_topk(a, rows, b, n, metric, (eh_vec_hit *)out_floats, k, &res);
        out_bytes = eh_ok(rc, &res) ? (uint32_t)res.value * sizeof(eh_vec_hit) : 0;
        break;
    default: return 2;
    }
    head[0] = (uint32_t)rc;
    head[1] = (uint32_t)res.status;
    head[2] = (uint32_t)res.out_len;
    head[3] = (uint32_t)res.value;
    if (op <= COSINE) {
        out_floats[0] = scalar;
        out_bytes = 4;
    }
    if (!eh_ok(rc, &res))
        out_bytes = 0;
    /* head and outputs back to back */
    static uint8_t body[16 + sizeof out_floats];
    const uint8_t *h = (const uint8_t *)head, *o = (const uint8_t *)out_floats;
    for (uint32_t i = 0; i < 16; i++)
        body[i] = h[i];
    for (uint32_t i = 0; i < out_bytes; i++)
        body[16 + i] = o[i];
    return eh_respond(body, 16 + out_bytes);
}
