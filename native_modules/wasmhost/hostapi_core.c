/* edgehost.abi_nop, log, time_*, random_fill, crc32c. */
#include <string.h>
#include <sys/random.h>
#include "wasmhost/hostapi.h"
#include "wasmhost/imports.h"

wasm_trap_t *eh_imp_abi_nop(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                            size_t n)
{
    return NULL;
}

/* Token bucket per tenant: log_burst lines at once, log_per_sec sustained.
 * Lines over the rate are counted in log_dropped, never silently lost. */
static int log_admit(eh_tenant *t, int64_t now)
{
    if (t->log_refill_ns == 0) {
        t->log_tokens = t->limits.log_burst;
        t->log_refill_ns = now;
    }
    double add = (double)(now - t->log_refill_ns) * 1e-9 * t->limits.log_per_sec;
    t->log_refill_ns = now;
    t->log_tokens += add;
    if (t->log_tokens > t->limits.log_burst)
        t->log_tokens = t->limits.log_burst;
    if (t->log_tokens < 1.0)
        return 0;
    t->log_tokens -= 1.0;
    return 1;
}

wasm_trap_t *eh_imp_log(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args, size_t n)
{
    eh_mem m = eh_caller_mem(caller);
    int32_t level = A(0);
    EH_RANGE_OR_TRAP("log", m, A(1), A(2), msg);
    if (level < 0 || level > 4)
        return eh_trap_msg("edgehost.log: level %d is not 0..4", level);
    eh_tenant *t = m.inst->tenant;
    uint32_t len = (uint32_t)A(2);
    if (len > EH_LOG_MSG_MAX)
        len = EH_LOG_MSG_MAX;
    int64_t now = eh_now_wall_ns();
    m.inst->effects++; /* a line others may read: the call cannot be preempted now */
    pthread_mutex_lock(&t->lock);
    if (log_admit(t, eh_now_mono_ns())) {
        if (t->log_head - t->log_tail >= EH_LOG_RING) {
            t->log_tail++; /* overwrite the oldest undrained line */
            t->log_dropped++;
        }
        eh_log_entry *e = &t->log[t->log_head % EH_LOG_RING];
        e->wall_ns = now;
        e->level = level;
        e->len = len;
        memcpy(e->msg, msg, len);
        t->log_head++;
    } else {
        t->log_dropped++;
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

wasm_trap_t *eh_imp_time_monotonic_ns(void *env, wasmtime_caller_t *caller,
                                      wasmtime_val_raw_t *args, size_t n)
{
    args[0].i64 = eh_now_mono_ns();
    return NULL;
}

wasm_trap_t *eh_imp_time_wall_ns(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                                 size_t n)
{
    args[0].i64 = eh_now_wall_ns();
    return NULL;
}

wasm_trap_t *eh_imp_random_fill(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                                size_t n)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("random_fill", m, A(0), A(1), dst);
    eh_fresh_mark(m.inst, A(0), (uint32_t)A(1));
    size_t left = (uint32_t)A(1);
    while (left) {
        ssize_t got = getrandom(dst, left, 0);
        if (got <= 0) {
            args[0].i32 = EH_ERR_UNAVAILABLE;
            return NULL;
        }
        dst += got;
        left -= (size_t)got;
    }
    args[0].i32 = 0;
    return NULL;
}

wasm_trap_t *eh_imp_crc32c(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                           size_t n)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("crc32c", m, A(0), A(1), p);
    eh_offload_req req = {.kernel = EH_KERNEL_CRC32C, .arg = {(uint32_t)A(2)},
                          .in = (uint64_t)(uintptr_t)p, .in_len = (uint32_t)A(1)};
    eh_offload_res res;
    int rc = eh_tenant_run_kernel(&m, &req, &res);
    if (rc < 0)
        return eh_trap_msg("edgehost.crc32c: %s", m.inst->error);
    args[0].i32 = (int32_t)(uint32_t)res.value;
    return NULL;
}
