/* Helpers every import uses: checked memory access, traps, copy-out, clocks. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "wasmhost/hostapi.h"

wasm_trap_t *eh_trap_msg(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    return EH_WT.wasmtime_trap_new(buf, (size_t)n);
}

wasm_trap_t *eh_trap_range(const char *import, uint32_t ptr, uint32_t len, uint64_t size)
{
    return eh_trap_msg("edgehost.%s: range [%u, +%u) is outside linear memory (%llu bytes)",
                       import, ptr, len, (unsigned long long)size);
}

eh_mem eh_caller_mem(wasmtime_caller_t *caller)
{
    eh_mem m = {0};
    wasmtime_context_t *ctx = EH_WT.wasmtime_caller_context(caller);
    m.inst = EH_WT.wasmtime_context_get_data(ctx);
    m.inst->hostcalls++;
    if (!m.inst->memory_ready)
        return m; /* size 0: every range check fails and traps */
    m.base = EH_WT.wasmtime_memory_data(ctx, &m.inst->memory);
    m.size = EH_WT.wasmtime_memory_data_size(ctx, &m.inst->memory);
    return m;
}

int32_t eh_copy_out(const eh_mem *m, uint32_t out, uint32_t cap, const void *src, uint32_t len)
{
    if (len <= cap && len) {
        memcpy(m->base + out, src, len);
        eh_fresh_mark(m->inst, out, len);
    }
    return (int32_t)len;
}

int64_t eh_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Defined with its reader, so the host API links without a sink (the
 * fuzzer's own); the KVM sink adds to it (vmm/call.c). */
__thread uint64_t eh_offload_charged_cpu_ns;

uint64_t eh_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
           eh_offload_charged_cpu_ns;
}

int64_t eh_now_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
