/* Tenant lifecycle: one linker with the edgehost.* imports, one
 * pre-instantiated module, shared state (kv, config, log). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "wasmhost/ffi.h"
#include "wasmhost/hostapi.h"
#include "wasmhost/slots.h"
#include "vmm/ffi.h"

static void set_err(char *err, size_t errlen, const char *what, wasmtime_error_t *e)
{
    wasm_name_t msg = {0};
    EH_WT.wasmtime_error_message(e, &msg);
    snprintf(err, errlen, "%s: %.*s", what, (int)msg.size, msg.data);
    EH_WT.wasm_byte_vec_delete(&msg);
    EH_WT.wasmtime_error_delete(e);
}

static wasm_valtype_vec_t types_of(const char *sig)
{
    wasm_valtype_t *v[8];
    size_t n = strlen(sig);
    for (size_t i = 0; i < n; i++)
        v[i] = EH_WT.wasm_valtype_new(sig[i] == 'I' ? WASM_I64 : WASM_I32);
    wasm_valtype_vec_t vec;
    EH_WT.wasm_valtype_vec_new(&vec, n, v);
    return vec;
}

static int define_imports(wasmtime_linker_t *linker, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < eh_imports_count; i++) {
        const eh_import_def *d = &eh_imports[i];
        wasm_valtype_vec_t p = types_of(d->params), r = types_of(d->results);
        wasm_functype_t *ft = EH_WT.wasm_functype_new(&p, &r);
        wasmtime_error_t *e = EH_WT.wasmtime_linker_define_func_unchecked(
            linker, "edgehost", 8, d->name, strlen(d->name), ft, d->cb, NULL, NULL);
        EH_WT.wasm_functype_delete(ft);
        if (e) {
            set_err(err, errlen, d->name, e);
            return -1;
        }
    }
    return 0;
}

eh_tenant *eh_tenant_new(void *engine, void *module, const char *name, const eh_limits *limits,
                         char *err, size_t errlen)
{
    eh_tenant *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    t->engine = engine;
    t->limits = *limits;
    t->sink = &eh_inproc_sink;
    pthread_mutex_init(&t->lock, NULL);
    if (!(t->slots = eh_slots_of(engine))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    t->linker = EH_WT.wasmtime_linker_new(engine);
    if (define_imports(t->linker, err, errlen) < 0)
        goto fail;
    wasmtime_error_t *e = EH_WT.wasmtime_linker_instantiate_pre(t->linker, module, &t->pre);
    if (e) {
        set_err(err, errlen, "link", e);
        goto fail;
    }
    return t;
fail:
    eh_tenant_free(t);
    return NULL;
}

static void free_config(eh_tenant *t)
{
    for (uint32_t i = 0; i < t->config_count; i++) {
        free(t->config_keys[i]);
        free(t->config_vals[i]);
    }
    free(t->config_keys);
    free(t->config_key_lens);
    free(t->config_vals);
    free(t->config_val_lens);
    t->config_keys = NULL;
    t->config_vals = NULL;
    t->config_key_lens = t->config_val_lens = NULL;
    t->config_count = 0;
}

void eh_tenant_free(eh_tenant *t)
{
    if (!t)
        return;
    /* An eviction may still be freeing an instance it took from one of our
     * pools (they have all left the slot ledger: no new one can start). */
    while (__atomic_load_n(&t->pins, __ATOMIC_ACQUIRE)) {
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
    }
    if (t->pre)
        EH_WT.wasmtime_instance_pre_delete(t->pre);
    if (t->linker)
        EH_WT.wasmtime_linker_delete(t->linker);
    free_config(t);
    eh_fresh_image_free(t->fresh);
    eh_kv_free_all(t);
    if (t->vm)
        eh_vm_destroy(t->vm); /* the tenant's reference */
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int eh_tenant_set_config(eh_tenant *t, uint32_t count, const char *const *keys,
                         const uint32_t *key_lens, const uint8_t *const *vals,
                         const uint32_t *val_lens)
{
    free_config(t);
    t->config_keys = calloc(count ? count : 1, sizeof(char *));
    t->config_vals = calloc(count ? count : 1, sizeof(uint8_t *));
    t->config_key_lens = calloc(count ? count : 1, sizeof(uint32_t));
    t->config_val_lens = calloc(count ? count : 1, sizeof(uint32_t));
    if (!t->config_keys || !t->config_vals || !t->config_key_lens || !t->config_val_lens)
        return -1;
    /* Keys arrive sorted by bytes (host/tenant.py sorts them); config_get bisects. */
    for (uint32_t i = 0; i < count; i++) {
        t->config_keys[i] = malloc(key_lens[i] + 1);
        t->config_vals[i] = malloc(val_lens[i] ? val_lens[i] : 1);
        if (!t->config_keys[i] || !t->config_vals[i])
            return -1;
        memcpy(t->config_keys[i], keys[i], key_lens[i]);
        t->config_keys[i][key_lens[i]] = 0;
        memcpy(t->config_vals[i], vals[i], val_lens[i]);
        t->config_key_lens[i] = key_lens[i];
        t->config_val_lens[i] = val_lens[i];
        t->config_count = i + 1;
    }
    return 0;
}

void eh_tenant_set_kernels(eh_tenant *t, uint64_t allowed_mask) { t->allowed_kernels = allowed_mask; }

void eh_tenant_set_input_buffer(eh_tenant *t, uint32_t ptr, uint32_t cap)
{
    t->input_ptr = ptr;
    t->input_cap = ptr ? cap : 0;
}

/* The tenant holds a reference to its guest (vmm/ffi.h): the guest lives as
 * long as the native tenant, whatever order their owners close them in. */
void eh_tenant_set_guest(eh_tenant *t, eh_vm *vm)
{
    if (vm)
        eh_vm_retain(vm);
    if (t->vm)
        eh_vm_destroy(t->vm);
    t->sink = vm ? &eh_vm_sink : &eh_inproc_sink;
    t->vm = vm;
}

int eh_tenant_log_drain(eh_tenant *t, eh_log_entry *out, int max, uint64_t *dropped)
{
    int n = 0;
    pthread_mutex_lock(&t->lock);
    while (n < max && t->log_tail < t->log_head) {
        out[n++] = t->log[t->log_tail % EH_LOG_RING];
        t->log_tail++;
    }
    *dropped = t->log_dropped;
    t->log_dropped_seen = t->log_dropped;
    pthread_mutex_unlock(&t->lock);
    return n;
}

uint64_t eh_tenant_log_pending(eh_tenant *t)
{
    /* Racy by design: a hint to skip draining; drains take the lock. */
    return __atomic_load_n(&t->log_head, __ATOMIC_RELAXED) -
           __atomic_load_n(&t->log_tail, __ATOMIC_RELAXED) +
           (__atomic_load_n(&t->log_dropped, __ATOMIC_RELAXED) != t->log_dropped_seen);
}

uint32_t eh_abi_import_count(void) { return eh_imports_count; }

const char *eh_abi_import(uint32_t i, const char **params, const char **results)
{
    if (i >= eh_imports_count)
        return NULL;
    *params = eh_imports[i].params;
    *results = eh_imports[i].results;
    return eh_imports[i].name;
}
