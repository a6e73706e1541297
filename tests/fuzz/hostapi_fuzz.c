/* libFuzzer target for the host API's bounds checks: every edgehost.*
 * callback of native_modules/wasmhost (registry.c's table) called with fuzzed
 * arguments against a fake linear memory -- an allocation of exactly its
 * size, so ASan flags any byte the host touches outside it -- through a fake
 * of the few wasmtime C API functions the callbacks use.
 *
 * Input: byte 0 picks the import, byte 1 the memory size (none, as during
 * instantiation, or 1..4 pages plus a ragged tail), whether kernels run in
 * process or through a recording offload sink, and what the rest is; then one
 * little-endian u32 per parameter; the rest is copied to the start of the
 * memory (so offload requests are fuzzed too) or is the request's headers. Oracle: a callback traps exactly when one of its
 * ranges (from the ABI: abi.py's pointer/length pairs, mirrored in RANGES)
 * lies outside the memory, or a log level is out of 0..4, or the sink says
 * the kernel call ran past the deadline; a sink only ever sees pointers
 * inside the caller's memory, and every byte a callback changed in the
 * memory lies in a page it marked in the instance's dirty map (what makes
 * instance = "fresh" put a used instance back: wasmhost/fresh.c). The
 * in-process kernel is a probe
 * (the kernels have fuzz targets of their own): it reads every byte of the
 * inputs and writes every byte of the output the host handed it, so ASan
 * flags any range the host translated wrongly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state/ffi.h"
#include "wasmhost/imports.h"
#include "fuzz_check.h"

#define CHECK(cond, ...) FUZZ_CHECK_AS("hostapi ", cond, __VA_ARGS__)

/* ---- the fake wasmtime: one caller, one instance, one memory ---------------- */
eh_wasmtime_api EH_WT;
static uint8_t *g_mem;
static uint64_t g_mem_size;
static eh_instance g_inst;
static eh_tenant g_tenant;
static int g_trapped;
static char g_trap_msg[256];
static int g_trap_sentinel;
static int g_sink_timeout; /* the fake sink reported a deadline: the import must trap */

static wasm_trap_t *fake_trap_new(const char *msg, size_t n)
{
    CHECK(n < sizeof g_trap_msg && memchr(msg, 0, n + 1) == msg + n, "trap text of %zu", n);
    memcpy(g_trap_msg, msg, n + 1);
    g_trapped = 1;
    return (wasm_trap_t *)&g_trap_sentinel;
}
static wasmtime_context_t *fake_caller_context(wasmtime_caller_t *c) { return (void *)c; }
static void *fake_get_data(const wasmtime_context_t *c) { return &g_inst; }
static uint8_t *fake_memory_data(const wasmtime_context_t *c, const wasmtime_memory_t *m)
{
    return g_mem;
}
static size_t fake_memory_size(const wasmtime_context_t *c, const wasmtime_memory_t *m)
{
    return (size_t)g_mem_size;
}

/* ---- the in-process kernel: touches exactly what the request names ---------- */
void eh_kernel_run(const eh_offload_req *req, eh_offload_res *res)
{
    uint64_t sum = 0;
    const volatile uint8_t *in = (const uint8_t *)(uintptr_t)req->in;
    const volatile uint8_t *in2 = (const uint8_t *)(uintptr_t)req->in2;
    for (uint64_t i = 0; i < req->in_len; i++)
        sum += in[i];
    for (uint64_t i = 0; i < req->in2_len; i++)
        sum += in2[i];
    if (req->out_cap)
        memset((void *)(uintptr_t)req->out, 0xA5, req->out_cap);
    memset(res, 0, sizeof *res);
    res->value = sum;
    res->out_len = (req->arg[3] & 1) ? req->out_cap + 1000 : req->out_cap; /* may lie */
}

/* ---- an offload sink that checks what the host hands it --------------------- */
/* An empty range may carry any pointer (the sink must not touch it). */
static int in_mem(uint64_t p, uint64_t n, const void *mem, uint64_t len)
{
    uint64_t base = (uintptr_t)mem;
    return n == 0 || (p >= base && n <= len && p - base <= len - n);
}
static eh_offload_status fake_run(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                                  uint64_t deadline_ns, char *err, size_t errlen)
{
    CHECK(in_mem(req->in, req->in_len, g_mem, g_mem_size), "in outside the memory");
    CHECK(in_mem(req->in2, req->in2_len, g_mem, g_mem_size), "in2 outside the memory");
    CHECK(in_mem(req->out, req->out_cap, g_mem, g_mem_size), "out outside the memory");
    memset(res, 0, sizeof *res);
    res->out_len = req->out_cap + 1000; /* a lying guest: the host must clamp */
    snprintf(err, errlen, "fake sink");
    g_sink_timeout = (int)(req->arg[3] % 4) == 3;
    return g_sink_timeout ? EH_OFFLOAD_TIMEOUT : EH_OFFLOAD_OK;
}
static eh_offload_status fake_attach(eh_vm *vm, const void *mem, uint64_t len)
{
    CHECK(mem == g_mem && len == g_mem_size, "sink shown the wrong memory");
    return EH_OFFLOAD_OK;
}
static void fake_detach(eh_vm *vm, const void *mem) {}
static const eh_offload_sink fake_sink = {fake_run, fake_attach, fake_detach, NULL};

/* In process: the probe kernel above, as eh_inproc_sink runs a kernel. */
static eh_offload_status probe_run(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                                   uint64_t deadline_ns, char *err, size_t errlen)
{
    eh_kernel_run(req, res);
    return EH_OFFLOAD_OK;
}
static const eh_offload_sink probe_sink = {probe_run, NULL, NULL, NULL};

/* ---- the oracle: which ranges each import checks (abi.py) ------------------- */
typedef struct { const char *name; int8_t ptr[2], len[2]; int fixed[2]; } range_spec;
static const range_spec RANGES[] = {
    {"abi_nop", {-1, -1}, {-1, -1}, {0, 0}},
    {"log", {1, -1}, {2, -1}, {0, 0}},
    {"time_monotonic_ns", {-1, -1}, {-1, -1}, {0, 0}},
    {"time_wall_ns", {-1, -1}, {-1, -1}, {0, 0}},
    {"random_fill", {0, -1}, {1, -1}, {0, 0}},
    {"crc32c", {0, -1}, {1, -1}, {0, 0}},
    {"config_get", {0, 2}, {1, 3}, {0, 0}},
    {"kv_get", {0, 2}, {1, 3}, {0, 0}},
    {"kv_put", {0, 2}, {1, 3}, {0, 0}},
    {"kv_delete", {0, -1}, {1, -1}, {0, 0}},
    {"request_method", {0, -1}, {1, -1}, {0, 0}},
    {"request_path", {0, -1}, {1, -1}, {0, 0}},
    {"request_query", {0, -1}, {1, -1}, {0, 0}},
    {"request_header", {0, 2}, {1, 3}, {0, 0}},
    {"request_headers", {0, -1}, {1, -1}, {0, 0}},
    {"request_body", {0, -1}, {1, -1}, {0, 0}},
    {"response_set_status", {-1, -1}, {-1, -1}, {0, 0}},
    {"response_set_header", {0, 2}, {1, 3}, {0, 0}},
    {"response_set_body", {0, -1}, {1, -1}, {0, 0}},
    {"offload", {0, 1}, {-1, -1}, {64, 32}},
};
#define NRANGES (sizeof RANGES / sizeof RANGES[0])

static int outside(uint32_t p, uint64_t n) { return (uint64_t)p + n > g_mem_size; }

static int expect_trap(const range_spec *s, const uint32_t *a)
{
    for (int k = 0; k < 2; k++) {
        if (s->ptr[k] < 0)
            continue;
        uint64_t n = s->len[k] >= 0 ? a[s->len[k]] : (uint64_t)s->fixed[k];
        if (outside(a[s->ptr[k]], n))
            return 1;
    }
    if (!strcmp(s->name, "log") && a[0] > 4)
        return 1;
    if (!strcmp(s->name, "offload")) {
        uint32_t w[16];
        memcpy(w, g_mem + a[0], 64);
        /* in, in_len, in2, in2_len, out, out_cap follow kernel, flags, arg[4] */
        if (outside(w[10], w[11]) || outside(w[12], w[13]) || outside(w[14], w[15]))
            return 1;
    }
    return 0;
}

static void setup(void)
{
    EH_WT.wasmtime_trap_new = fake_trap_new;
    EH_WT.wasmtime_caller_context = fake_caller_context;
    EH_WT.wasmtime_context_get_data = fake_get_data;
    EH_WT.wasmtime_memory_data = fake_memory_data;
    EH_WT.wasmtime_memory_data_size = fake_memory_size;
    snprintf(g_tenant.name, sizeof g_tenant.name, "fuzz");
    g_tenant.limits = (eh_limits){.max_memory_bytes = 4 << 16, .kv_max_bytes = 64 << 10,
                                  .kv_max_key = 64, .kv_max_value = 4096, .log_per_sec = 1000,
                                  .log_burst = 1000};
    g_tenant.allowed_kernels = ~0ull & ~(1ull << 5); /* one kernel id denied */
    char err[256]; /* the kv imports reach a real (in-process) store */
    eh_kv_store *kv = eh_kv_open_memory(err, sizeof err);
    CHECK(kv != NULL, "%s", err);
    g_tenant.kv = eh_kv_ns_open(kv, "fuzz", g_tenant.limits.kv_max_bytes, EH_KV_DURABLE_BATCH,
                                err, sizeof err);
    CHECK(g_tenant.kv != NULL, "%s", err);
    pthread_mutex_init(&g_tenant.lock, NULL);
    static char *keys[] = {"a", "greeting", "n"};
    static uint32_t klens[] = {1, 8, 1};
    static uint8_t v0[] = {0xc3}, v1[] = {0xa2, 'h', 'i'}, v2[] = {0x2a};
    static uint8_t *vals[] = {v0, v1, v2};
    static uint32_t vlens[] = {1, 3, 1};
    g_tenant.config_count = 3;
    g_tenant.config_keys = keys;
    g_tenant.config_key_lens = klens;
    g_tenant.config_vals = vals;
    g_tenant.config_val_lens = vlens;
    g_inst.tenant = &g_tenant;
    /* a request as the host builds it; headers: {"x-a": "1", "host": "h"} */
    static const uint8_t hdrs[] = {0x82, 0xa3, 'x', '-', 'a', 0xa1, '1',
                                   0xa4, 'h', 'o', 's', 't', 0xa1, 'h'};
    g_inst.req = (eh_request){"GET", 3, "/p", 2, "q=1", 3, hdrs, sizeof hdrs,
                              (const uint8_t *)"body bytes", 10};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 2)
        return 0;
    uint32_t which = data[0] % eh_imports_count;
    const eh_import_def *d = &eh_imports[which];
    CHECK(which < NRANGES && !strcmp(RANGES[which].name, d->name), "oracle table vs registry");
    uint8_t ctl = data[1];
    /* 1..4 pages, sometimes with a ragged tail; 0 or 5..7: no memory yet, as
     * while a start function runs during instantiation */
    uint32_t pages = ctl & 7;
    g_inst.memory_ready = pages >= 1 && pages <= 4;
    g_mem_size = g_inst.memory_ready
                     ? pages * 65536ull + ((ctl & 8) ? 1 + ((ctl >> 4) & 7) * 97 : 0)
                     : 0;
    g_mem = malloc(g_mem_size ? g_mem_size : 1);
    memset(g_mem, 0, g_mem_size);
    size_t at = 2;
    uint32_t a[8] = {0};
    size_t np = strlen(d->params);
    for (size_t i = 0; i < np; i++, at += 4)
        if (at + 4 <= size)
            memcpy(&a[i], data + at, 4);
    /* ctl bit 6: the rest is the request's headers (the host builds them as a
     * msgpack map; request_header must survive any bytes there), else memory */
    static const uint8_t *hdrs0;
    static uint32_t hdrs0_len;
    if (!hdrs0) {
        hdrs0 = g_inst.req.headers;
        hdrs0_len = g_inst.req.headers_len;
    }
    uint8_t *hdrs = NULL;
    g_inst.req.headers = hdrs0;
    g_inst.req.headers_len = hdrs0_len;
    if ((ctl & 0x40) && at < size) {
        hdrs = malloc(size - at); /* exact size: ASan sees a read past it */
        memcpy(hdrs, data + at, size - at);
        g_inst.req.headers = hdrs;
        g_inst.req.headers_len = (uint32_t)(size - at);
    } else if (at < size && g_mem_size) {
        memcpy(g_mem, data + at, size - at < g_mem_size ? size - at : g_mem_size);
    }
    g_tenant.sink = (ctl & 0x80) ? &fake_sink : &probe_sink;
    g_inst.attached_mem = NULL;
    memset(&g_inst.resp, 0, sizeof g_inst.resp);

    wasmtime_val_raw_t args[8];
    memset(args, 0, sizeof args);
    for (size_t i = 0; i < np; i++)
        args[i].i32 = (int32_t)a[i];
    int want = g_inst.memory_ready ? expect_trap(&RANGES[which], a)
                                   : RANGES[which].ptr[0] >= 0; /* no memory: every range */
    uint32_t req_out_cap = 0; /* as the host read it, before the kernel wrote anything */
    if (!strcmp(d->name, "offload") && !outside(a[0], 64))
        memcpy(&req_out_cap, g_mem + a[0] + 60, 4);
    g_trapped = 0;
    g_sink_timeout = 0;
    /* one map byte per page of every 32-bit address, as the rewrite's map */
    static uint8_t *dirty;
    if (!dirty && !(dirty = calloc((size_t)1 << (32 - EH_DIRTY_PAGE_SHIFT), 1)))
        abort();
    memset(dirty, 0, (g_mem_size >> EH_DIRTY_PAGE_SHIFT) + 1);
    g_inst.dirty = dirty;
    uint8_t *before = malloc(g_mem_size ? g_mem_size : 1);
    memcpy(before, g_mem, g_mem_size);
    wasm_trap_t *trap = d->cb(NULL, (wasmtime_caller_t *)&g_inst, args, np > 1 ? np : 1);
    for (uint64_t i = 0; i < g_mem_size; i++)
        CHECK(g_mem[i] == before[i] || dirty[i >> EH_DIRTY_PAGE_SHIFT],
              "%s wrote byte %llu without marking its page", d->name, (unsigned long long)i);
    free(before);
    CHECK((trap != NULL) == g_trapped, "trap pointer vs trap_new");
    want |= g_sink_timeout; /* a kernel call past the deadline traps (hostapi_offload.c) */
    CHECK(g_trapped == want, "%s: trapped %d, expected %d (%s)", d->name, g_trapped, want,
          g_trapped ? g_trap_msg : "no trap");
    if (g_trapped && strcmp(d->name, "log"))
        CHECK(!strncmp(g_trap_msg, "edgehost.", 9), "trap text %s", g_trap_msg);
    if (!g_trapped && !strcmp(d->name, "offload") && args[0].i32 == 0) {
        eh_offload_res res;
        memcpy(&res, g_mem + a[1], sizeof res);
        CHECK(res.status != 0 || res.out_len <= req_out_cap, "out_len %llu over out_cap %u",
              (unsigned long long)res.out_len, req_out_cap);
    }
    /* the response body the host will read after the handler: inside memory */
    if (g_inst.resp.has_body)
        CHECK(!outside(g_inst.resp.body_ptr, g_inst.resp.body_len), "response body range");
    free(g_mem);
    free(hdrs);
    g_mem = NULL;
    return 0;
}
