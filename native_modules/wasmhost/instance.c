/* Instances: a fresh store per instance, instantiated from the tenant's
 * InstancePre; calls go straight to wasmtime_func_call_unchecked.
 *
 * Deadlines hold in wall time: each call sets inst->deadline_at_ns from the
 * monotonic clock and arms the epoch deadline one tick ahead; on every tick
 * of the engine's ticker, deadline_check() (the store's epoch callback)
 * compares the clock with deadline_at_ns and either extends by one tick or
 * stops the call. A late ticker delays only the last check, never adds up. */
#define _GNU_SOURCE /* memmem */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wasmhost/ffi.h"
#include "wasmhost/hostapi.h"
#include "wasmhost/slots.h"

#define NO_DEADLINE (UINT64_MAX / 4)

/* wasmtime's text for a failed call is "error while executing at wasm
 * backtrace:\n <frames>\n\nCaused by:\n    <cause>" (the cause may be a
 * numbered chain "0: ...\n 1: ..."). What a caller reads is one line: the
 * cause(s) joined with "; ", without the backtrace, which can be longer than
 * the whole error buffer (deep recursion) and would hide the cause. */
static void one_line_cause(const char *msg, size_t len, char *out, size_t outlen)
{
    static const char caused[] = "Caused by:";
    const char *p = memmem(msg, len, caused, sizeof caused - 1);
    const char *end = msg + len;
    int chain = p != NULL;
    p = p ? p + sizeof caused - 1 : msg;
    size_t n = 0;
    out[0] = 0;
    while (p < end && n + 1 < outlen) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q = p, *stop = eol ? eol : end;
        while (q < stop && (*q == ' ' || *q == '\t'))
            q++;
        const char *d = q;
        while (chain && d < stop && *d >= '0' && *d <= '9')
            d++;
        if (chain && d > q && d + 1 < stop && d[0] == ':' && d[1] == ' ')
            q = d + 2; /* drop the chain's "N: " numbering */
        while (stop > q && (stop[-1] == ' ' || stop[-1] == '\r'))
            stop--;
        if (stop > q) {
            int w = snprintf(out + n, outlen - n, "%s%.*s", n ? "; " : "", (int)(stop - q), q);
            n = w < 0 ? n : (size_t)w >= outlen - n ? outlen - 1 : n + (size_t)w;
            if (!chain)
                break; /* no cause chain: the first line says it */
        }
        p = eol ? eol + 1 : end;
    }
}

static void error_text(eh_instance *inst, const char *what, wasmtime_error_t *e, wasm_trap_t *trap)
{
    wasm_byte_vec_t msg = {0};
    inst->trap_kind = EH_TRAP_ERROR;
    if (trap) {
        wasmtime_trap_code_t code;
        inst->trap_kind = EH_TRAP_TRAP;
        if (EH_WT.wasmtime_trap_code(trap, &code)) {
            if (code == WASMTIME_TRAP_CODE_INTERRUPT)
                inst->trap_kind = EH_TRAP_DEADLINE;
            else if (code == WASMTIME_TRAP_CODE_OUT_OF_FUEL)
                inst->trap_kind = EH_TRAP_FUEL;
        }
        EH_WT.wasm_trap_message(trap, &msg);
        EH_WT.wasm_trap_delete(trap);
    } else {
        EH_WT.wasmtime_error_message(e, &msg);
        EH_WT.wasmtime_error_delete(e);
    }
    if (inst->deadline_hit)
        inst->trap_kind = EH_TRAP_DEADLINE;
    /* wasm_trap_message includes a trailing NUL in its length. */
    size_t len = msg.size;
    if (len && msg.data[len - 1] == 0)
        len--;
    char cause[sizeof inst->error];
    one_line_cause(msg.data ? msg.data : "", len, cause, sizeof cause);
    /* An import's trap (a contract violation: "edgehost.NAME: ...") comes
     * back as an error, not a trap; it is the tenant's fault all the same. */
    if (!trap && !strncmp(cause, "edgehost.", 9))
        inst->trap_kind = EH_TRAP_TRAP;
    snprintf(inst->error, sizeof inst->error, "%s%s%s", what, *what ? ": " : "", cause);
    if (inst->import_trap_kind) /* an import trapped on purpose, saying why */
        inst->trap_kind = inst->import_trap_kind;
    EH_WT.wasm_byte_vec_delete(&msg);
}

static wasmtime_error_t *deadline_check(wasmtime_context_t *ctx, void *env, uint64_t *delta,
                                        wasmtime_update_deadline_kind_t *kind)
{
    eh_instance *inst = env;
    uint64_t now = (uint64_t)eh_now_mono_ns();
    if (inst->deadline_at_ns && now >= inst->deadline_at_ns) {
        inst->deadline_hit = 1;
        inst->deadline_stop_ns = now;
        return EH_WT.wasmtime_error_new("deadline exceeded");
    }
    if (inst->preempt_at_ns && now >= inst->preempt_at_ns) {
        inst->preempt_at_ns = 0;
        if (!inst->effects) {
            inst->preempted = 1;
            return EH_WT.wasmtime_error_new("preempted (to be run again)");
        }
        inst->overran = 1; /* past an effect: it runs on */
        inst->overran_cpu_ns = eh_thread_cpu_ns();
    }
    *kind = WASMTIME_UPDATE_DEADLINE_CONTINUE;
    *delta = 1; /* look again at the next tick */
    return NULL;
}

static int arm_limits(eh_instance *inst)
{
    const eh_limits *l = &inst->tenant->limits;
    inst->deadline_hit = 0;
    inst->import_trap_kind = EH_TRAP_NONE;
    inst->effects = 0;
    inst->preempted = inst->overran = 0;
    inst->deadline_at_ns = l->deadline_ns ? (uint64_t)eh_now_mono_ns() + l->deadline_ns : 0;
    EH_WT.wasmtime_context_set_epoch_deadline(
        inst->ctx, inst->deadline_at_ns || inst->preempt_at_ns ? 1 : NO_DEADLINE);
    if (l->fuel) {
        wasmtime_error_t *e = EH_WT.wasmtime_context_set_fuel(inst->ctx, l->fuel);
        if (e) {
            error_text(inst, "fuel", e, NULL);
            return -1;
        }
    }
    return 0;
}

static int get_func(eh_instance *inst, const char *name, wasmtime_func_t *out)
{
    wasmtime_extern_t ext;
    if (!EH_WT.wasmtime_instance_export_get(inst->ctx, &inst->instance, name, strlen(name), &ext))
        return -1;
    if (ext.kind != WASMTIME_EXTERN_FUNC) {
        EH_WT.wasmtime_extern_delete(&ext);
        return -1;
    }
    *out = ext.of.func;
    return 0;
}

static int call_raw(eh_instance *inst, const wasmtime_func_t *f, wasmtime_val_raw_t *vals,
                    size_t n)
{
    if (inst->restore_pending) /* no code runs on a half-reset instance */
        eh_fresh_restore(inst, 0, 0);
    if (arm_limits(inst) < 0)
        return -1;
    wasm_trap_t *trap = NULL;
    wasmtime_error_t *e = EH_WT.wasmtime_func_call_unchecked(inst->ctx, f, vals, n, &trap);
    if (e || trap)
        error_text(inst, "", e, trap);
    /* The call's kv snapshot goes; a kv store failure in it fails the call. */
    if (eh_kv_call_end(inst) < 0 || e || trap)
        return -1;
    return 0;
}

/* What wasmtime's pooling allocator says when all its slots are taken
 * ("maximum concurrent limit of N for core instances reached"; a test
 * fills them through wasmtime-py to keep this current). */
#define WASMTIME_POOL_FULL "maximum concurrent limit of"

/* A new store for inst with its tenant's limits, instantiated from the
 * tenant's InstancePre; -1 with inst->error set. */
static int instantiate(eh_instance *inst)
{
    eh_tenant *t = inst->tenant;
    inst->store = EH_WT.wasmtime_store_new(t->engine, inst, NULL);
    inst->ctx = EH_WT.wasmtime_store_context(inst->store);
    EH_WT.wasmtime_store_epoch_deadline_callback(inst->store, deadline_check, inst, NULL);
    if (t->limits.max_memory_bytes)
        EH_WT.wasmtime_store_limiter(inst->store, (int64_t)t->limits.max_memory_bytes, -1, -1, -1,
                                     -1);
    if (arm_limits(inst) < 0)
        return -1;
    wasm_trap_t *trap = NULL;
    wasmtime_error_t *e =
        EH_WT.wasmtime_instance_pre_instantiate(t->pre, inst->ctx, &inst->instance, &trap);
    if (e || trap) {
        error_text(inst, "instantiate", e, trap);
        return -1;
    }
    return 0;
}

eh_instance *eh_instance_new(eh_tenant *t, int *kind, char *err, size_t errlen)
{
    *kind = EH_TRAP_ERROR;
    eh_instance *inst = calloc(1, sizeof *inst);
    if (!inst) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    inst->tenant = t;
    /* Its share and a slot first (slots.h): this may free idle instances. */
    int full = eh_slots_take(t, err, errlen);
    if (full) {
        *kind = full;
        free(inst);
        return NULL;
    }
    inst->holds_slot = 1;
    while (instantiate(inst) < 0) {
        if (!strstr(inst->error, WASMTIME_POOL_FULL))
            goto fail_msg;
        /* wasmtime's slots ran out while the ledger had room: instances made
         * outside it (through wasmtime-py) hold some. Free an idle one, retry. */
        EH_WT.wasmtime_store_delete(inst->store);
        inst->store = NULL;
        if (!eh_slots_evict(t)) {
            snprintf(inst->error, sizeof inst->error,
                     "every instance slot of this process is in use");
            inst->trap_kind = EH_TRAP_SLOTS;
            goto fail_msg;
        }
    }
    wasmtime_extern_t ext;
    if (!EH_WT.wasmtime_instance_export_get(inst->ctx, &inst->instance, "memory", 6, &ext) ||
        ext.kind != WASMTIME_EXTERN_MEMORY) {
        snprintf(inst->error, sizeof inst->error, "module does not export its memory as 'memory'");
        goto fail_msg;
    }
    inst->memory = ext.of.memory;
    inst->memory_ready = 1;
    inst->input_ptr = t->input_ptr; /* a snapshot's buffer, already in its memory */
    inst->input_cap = t->input_cap;
    if (get_func(inst, "edgehost_alloc", &inst->alloc_fn) < 0) {
        snprintf(inst->error, sizeof inst->error, "module does not export 'edgehost_alloc'");
        goto fail_msg;
    }
    eh_fresh_bind(inst);
    /* A tenant whose requests make kernel calls (a fresh instance per request):
     * wake its guest now. Not for one that makes none, nor for a new version's
     * first instance (kernels_last starts at 0): no kernel call follows. */
    if (t->sink->prewarm && atomic_load_explicit(&t->kernels_last, memory_order_relaxed))
        t->sink->prewarm(t->vm);
    wasmtime_func_t init;
    if (get_func(inst, "_initialize", &init) == 0) {
        wasmtime_val_raw_t none[1];
        if (call_raw(inst, &init, none, 0) < 0)
            goto fail_msg;
    }
    *kind = EH_TRAP_NONE;
    return inst;
fail_msg:
    snprintf(err, errlen, "%s", inst->error);
    *kind = inst->trap_kind ? inst->trap_kind : EH_TRAP_ERROR;
    eh_instance_free(inst);
    return NULL;
}

void eh_instance_free(eh_instance *inst)
{
    if (!inst)
        return;
    for (uint32_t i = 0; i < inst->nexports; i++)
        free(inst->export_names[i]);
    free(inst->export_names);
    free(inst->exports);
    eh_fresh_unbind(inst);
    if (inst->attached_mem && inst->attached_sink->detach) /* before the pages can go */
        inst->attached_sink->detach(inst->attached_vm, inst->attached_mem); /* to anyone else */
    if (inst->store)
        EH_WT.wasmtime_store_delete(inst->store);
    if (inst->holds_slot) /* after the store: its slot is free now */
        eh_slots_give(inst->tenant);
    free(inst);
}

int eh_instance_export(eh_instance *inst, const char *name)
{
    for (uint32_t i = 0; i < inst->nexports; i++)
        if (!strcmp(inst->export_names[i], name))
            return (int)i;
    wasmtime_func_t f;
    if (get_func(inst, name, &f) < 0)
        return EH_EXPORT_MISSING;
    if (inst->nexports == inst->exports_cap) {
        uint32_t cap = inst->exports_cap ? inst->exports_cap * 2 : 8;
        wasmtime_func_t *fs = realloc(inst->exports, cap * sizeof *fs);
        if (!fs)
            return EH_EXPORT_NO_MEMORY;
        inst->exports = fs;
        char **ns = realloc(inst->export_names, cap * sizeof *ns);
        if (!ns)
            return EH_EXPORT_NO_MEMORY;
        inst->export_names = ns;
        inst->exports_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return EH_EXPORT_NO_MEMORY;
    inst->exports[inst->nexports] = f;
    inst->export_names[inst->nexports] = copy;
    return (int)inst->nexports++;
}

int eh_instance_call(eh_instance *inst, int idx, uint64_t *vals, uint32_t nvals)
{
    inst->trap_kind = EH_TRAP_NONE;
    inst->error[0] = 0;
    if (idx < 0 || (uint32_t)idx >= inst->nexports) {
        snprintf(inst->error, sizeof inst->error, "bad export index %d", idx);
        inst->trap_kind = EH_TRAP_ERROR;
        return -1;
    }
    _Static_assert(sizeof(wasmtime_val_raw_t) == 16, "raw slot");
    wasmtime_val_raw_t raw[8];
    if (nvals > 8)
        nvals = 8;
    for (uint32_t i = 0; i < nvals; i++) {
        memset(&raw[i], 0, sizeof raw[i]);
        raw[i].i64 = (int64_t)vals[i];
    }
    if (call_raw(inst, &inst->exports[idx], raw, nvals) < 0)
        return -1;
    for (uint32_t i = 0; i < nvals; i++)
        vals[i] = (uint64_t)raw[i].i64;
    return 0;
}

uint8_t *eh_instance_memory(eh_instance *inst, uint64_t *size)
{
    *size = EH_WT.wasmtime_memory_data_size(inst->ctx, &inst->memory);
    return EH_WT.wasmtime_memory_data(inst->ctx, &inst->memory);
}

int eh_instance_handle_parts(eh_instance *inst, int idx, const char *method,
                            uint32_t method_len, const char *path, uint32_t path_len,
                            const char *query, uint32_t query_len, const char *headers,
                            uint32_t headers_len, const char *body, uint32_t body_len,
                            int32_t *status)
{
    eh_request req = {method, method_len, path, path_len, query, query_len,
                      (const uint8_t *)headers, headers_len, (const uint8_t *)body, body_len};
    return eh_instance_handle(inst, idx, &req, status);
}

int eh_instance_handle(eh_instance *inst, int idx, const eh_request *req, int32_t *status)
{
    inst->req = *req;
    memset(&inst->resp, 0, sizeof inst->resp);
    inst->resp.status = 200;
    inst->trap_kind = EH_TRAP_NONE;
    inst->error[0] = 0;
    eh_tenant *t = inst->tenant;
    if (t->sink->prewarm && atomic_load_explicit(&t->kernels_last, memory_order_relaxed))
        t->sink->prewarm(t->vm); /* overlaps waking its guest with the copy below */
    uint64_t kernel_calls = inst->offload_calls;
    uint32_t len = req->body_len;
    if (inst->restore_pending) { /* the body overwrites its part of the input buffer */
        int fits = inst->input_ptr && len <= inst->input_cap;
        eh_fresh_restore(inst, fits ? inst->input_ptr : 0,
                         fits ? (uint64_t)inst->input_ptr + len : 0);
    }
    if (len > inst->input_cap || !inst->input_ptr) {
        wasmtime_val_raw_t v[1];
        memset(v, 0, sizeof v);
        v[0].i32 = (int32_t)(len ? len : 1);
        if (call_raw(inst, &inst->alloc_fn, v, 1) < 0)
            return -1;
        uint64_t size = EH_WT.wasmtime_memory_data_size(inst->ctx, &inst->memory);
        uint32_t p = (uint32_t)v[0].i32;
        if (p == 0 || (uint64_t)p + len > size) {
            snprintf(inst->error, sizeof inst->error,
                     "edgehost_alloc(%u) returned %u: no room for the input (memory limit?)", len, p);
            inst->trap_kind = EH_TRAP_MEMORY;
            inst->input_ptr = inst->input_cap = 0;
            return -1;
        }
        inst->input_ptr = p;
        inst->input_cap = len ? len : 1;
    }
    if (len) {
        memcpy(EH_WT.wasmtime_memory_data(inst->ctx, &inst->memory) + inst->input_ptr, req->body,
               len);
        eh_fresh_mark(inst, inst->input_ptr, len);
    }
    uint64_t vals[2] = {inst->input_ptr, len};
    int rc = eh_instance_call(inst, idx, vals, 2);
    int used = inst->offload_calls != kernel_calls;
    if (atomic_load_explicit(&t->kernels_last, memory_order_relaxed) != used)
        atomic_store_explicit(&t->kernels_last, used, memory_order_relaxed);
    if (rc < 0)
        return -1;
    *status = (int32_t)vals[0];
    return 0;
}

const uint8_t *eh_instance_response(eh_instance *inst, int32_t *http_status, uint32_t *body_len,
                                    const char **headers, uint32_t *headers_len)
{
    *http_status = inst->resp.status;
    *headers = inst->resp.headers;
    *headers_len = inst->resp.headers_len;
    if (!inst->resp.has_body) {
        *body_len = 0;
        return NULL;
    }
    *body_len = inst->resp.body_len;
    return EH_WT.wasmtime_memory_data(inst->ctx, &inst->memory) + inst->resp.body_ptr;
}

const char *eh_instance_error(eh_instance *inst, int *kind)
{
    *kind = inst->trap_kind;
    return inst->error;
}

int64_t eh_instance_deadline_overshoot_ns(eh_instance *inst)
{
    return inst->deadline_hit ? (int64_t)(inst->deadline_stop_ns - inst->deadline_at_ns) : -1;
}

/* Snapshots (host/reload/snapshot.py) read a configured instance's state. */
int eh_instance_global_get(eh_instance *inst, const char *name, uint64_t *bits)
{
    wasmtime_extern_t ext;
    if (!EH_WT.wasmtime_instance_export_get(inst->ctx, &inst->instance, name, strlen(name), &ext))
        return -1;
    if (ext.kind != WASMTIME_EXTERN_GLOBAL) {
        EH_WT.wasmtime_extern_delete(&ext);
        return -1;
    }
    wasmtime_val_t v;
    memset(&v, 0, sizeof v);
    EH_WT.wasmtime_global_get(inst->ctx, &ext.of.global, &v);
    switch (v.kind) {
    case WASMTIME_I32: *bits = (uint32_t)v.of.i32; break;
    case WASMTIME_I64: *bits = (uint64_t)v.of.i64; break;
    case WASMTIME_F32: { uint32_t b; memcpy(&b, &v.of.f32, 4); *bits = b; break; }
    case WASMTIME_F64: memcpy(bits, &v.of.f64, 8); break;
    default: return -1; /* never exported for snapshots: nothing to unroot */
    }
    return v.kind;
}

void eh_instance_input_buffer(eh_instance *inst, uint32_t *ptr, uint32_t *cap)
{
    *ptr = inst->input_ptr;
    *cap = inst->input_cap;
}
