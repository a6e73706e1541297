/* bench-tenant: the tenant of `edgehost bench tenant` (host/bench/tenant.py).
 *
 * One handler per operation and path, all over the request body:
 *   <op>_local    the kernel compiled into this module (bench_local.c)
 *   <op>_offload  the same request through the edgehost.offload import (the
 *                 host runs it in process or in the tenant's KVM guest)
 * ops: crc (CRC32C of the body), csv (CSV_FIELDS: the body to unescaped
 * fields), json (JSON_POINTER "/meta/count": validate the body and extract
 * a value), dot (VEC_DOT of the body's two halves, float32), topk (VEC_TOPK
 * by dot product: the body is a query row of `dim` floats, then the rows).
 *
 * The query string carries the parameters: n (runs of the operation in this
 * request, default 1), dim and k (topk). The handler times its n runs with
 * the host's monotonic clock, so the figure holds no Python and no request
 * overhead, and answers (little-endian, struct "<qIiiIQQ" then up to 256
 * bytes of the last run's output):
 *   i64 elapsed_ns, u32 runs, i32 import result, i32 kernel status,
 *   u32 detail, u64 value, u64 out_len, out[...]
 * Output room (csv, json, topk) is grown on EH_K_ENOSPC and kept across
 * requests (the instance is reused); each operation offers the room its
 * kernel last asked for, so after the first request at a size every run is
 * one kernel call with exactly the room it needs, by either path. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

void eh_bench_local_init(void);
void eh_bench_local(uint32_t kernel, uint32_t flags, uint64_t arg0, uint64_t arg1, uint32_t in,
                    uint32_t in_len, uint32_t in2, uint32_t in2_len, uint32_t out,
                    uint32_t out_cap, void *res);

enum { OP_CRC, OP_CSV, OP_JSON, OP_DOT, OP_TOPK };

static const char JSON_POINTER[] = "/meta/count";

static uint8_t *out_buf; /* output room, grown on ENOSPC, kept across requests */
static uint32_t out_cap;
/* Per operation, the output room its kernel last asked for: each request
 * offers exactly that much (a KVM call's cost depends on the room offered,
 * so one operation's large buffer must not be offered to another's). */
static uint32_t need[5];
static uint8_t reply[40 + 256];

EDGEHOST_CONFIGURE() { eh_bench_local_init(); return 0; }

/* The unsigned value of `key` in the query ("n=100&dim=128"), or def. */
static uint64_t query_u64(const char *q, uint32_t qlen, const char *key, uint64_t def)
{
    uint32_t kl = eh_strlen(key);
    for (uint32_t i = 0; i + kl < qlen; i++) {
        if ((i == 0 || q[i - 1] == '&') && q[i + kl] == '=') {
            uint32_t j = 0;
            while (j < kl && q[i + j] == key[j])
                j++;
            if (j == kl) {
                uint64_t v = 0;
                for (i += kl + 1; i < qlen && q[i] >= '0' && q[i] <= '9'; i++)
                    v = v * 10 + (uint64_t)(q[i] - '0');
                return v;
            }
        }
    }
    return def;
}

static int32_t run(int local, eh_offload_request *rq, eh_offload_result *res)
{
    if (!local)
        return eh_offload(rq, res);
    eh_bench_local(rq->kernel, rq->flags, rq->arg[0], rq->arg[1], rq->in, rq->in_len, rq->in2,
                   rq->in2_len, rq->out, rq->out_cap, res);
    return 0;
}

/* One run; on ENOSPC the output room grows to what the kernel asked for and
 * the run is repeated (JSON asks twice: working memory, then the exact total).
 * Only the first request at a new size grows anything. */
static int32_t run_sized(int op, int local, eh_offload_request *rq, eh_offload_result *res)
{
    int32_t rc = run(local, rq, res);
    for (int round = 0; round < 3 && rc == 0 && res->status == EH_K_ENOSPC &&
                        res->out_len > rq->out_cap && res->out_len <= 0xfffffff8u;
         round++) {
        uint32_t want = (uint32_t)res->out_len;
        if (want > out_cap) {
            out_buf = eh_scratch(want);
            if (!out_buf)
                return EH_ERR_QUOTA;
            out_cap = want;
        }
        rq->out = (uint32_t)(uintptr_t)out_buf;
        rq->out_cap = need[op] = want;
        rc = run(local, rq, res);
    }
    return rc;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int32_t bench(int op, int local, const uint8_t *in, uint32_t len)
{
    char q[128];
    int32_t ql = eh_request_query(q, sizeof q);
    uint32_t qlen = ql < 0 ? 0 : (uint32_t)ql > sizeof q ? sizeof q : (uint32_t)ql;
    uint64_t n = query_u64(q, qlen, "n", 1);
    uint32_t base = (uint32_t)(uintptr_t)in;
    eh_offload_request rq = {0};
    eh_offload_result res = {0};
    rq.in = base;
    rq.in_len = len;
    rq.out = (uint32_t)(uintptr_t)out_buf;
    rq.out_cap = need[op];
    switch (op) {
    case OP_CRC:
        rq.kernel = EH_KERNEL_CRC32C;
        rq.out = rq.out_cap = 0;
        break;
    case OP_CSV:
        rq.kernel = EH_KERNEL_CSV_FIELDS;
        rq.arg[0] = ',';
        rq.arg[1] = '"';
        break;
    case OP_JSON:
        rq.kernel = EH_KERNEL_JSON_POINTER;
        rq.in2 = (uint32_t)(uintptr_t)JSON_POINTER;
        rq.in2_len = sizeof JSON_POINTER - 1;
        break;
    case OP_DOT:
        rq.kernel = EH_KERNEL_VEC_DOT;
        rq.in_len = rq.in2_len = len / 8 * 4;
        rq.in2 = base + rq.in_len;
        rq.out = rq.out_cap = 0;
        break;
    default: { /* OP_TOPK */
        uint32_t dim = (uint32_t)query_u64(q, qlen, "dim", 128);
        rq.kernel = EH_KERNEL_VEC_TOPK;
        rq.arg[0] = query_u64(q, qlen, "k", 10);
        rq.arg[1] = 1; /* dot product, largest first */
        rq.in2 = base;
        rq.in2_len = dim * 4;
        rq.in = base + dim * 4;
        rq.in_len = len > dim * 4 ? (len - dim * 4) / (dim * 4) * (dim * 4) : 0;
        break;
    }
    }
    int32_t rc = 0;
    uint64_t runs = 0;
    int64_t t0 = eh_time_monotonic_ns();
    while (runs < n) {
        rc = run_sized(op, local, &rq, &res);
        runs++;
        if (rc != 0 || res.status != 0)
            break;
    }
    int64_t t1 = eh_time_monotonic_ns();
    put64(reply, (uint64_t)(t1 - t0));
    put32(reply + 8, (uint32_t)runs);
    put32(reply + 12, (uint32_t)rc);
    put32(reply + 16, (uint32_t)res.status);
    put32(reply + 20, res.detail);
    put64(reply + 24, res.value);
    put64(reply + 32, res.out_len);
    uint32_t shown = 0;
    if (rc == 0 && res.status == 0 && rq.out) {
        shown = res.out_len < 256 ? (uint32_t)res.out_len : 256;
        const uint8_t *o = (const uint8_t *)(uintptr_t)rq.out;
        for (uint32_t i = 0; i < shown; i++)
            reply[40 + i] = o[i];
    }
    return eh_respond(reply, 40 + shown) < 0; /* 0: the reply says how it went */
}

#define BENCH_OP(name, op)                                                       \
    EDGEHOST_HANDLER(name##_local) { return bench(op, 1, in, in_len); }         \
    EDGEHOST_HANDLER(name##_offload) { return bench(op, 0, in, in_len); }

BENCH_OP(crc, OP_CRC)
BENCH_OP(csv, OP_CSV)
BENCH_OP(json, OP_JSON)
BENCH_OP(dot, OP_DOT)
BENCH_OP(topk, OP_TOPK)
