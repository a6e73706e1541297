/* wasm32 harness around the same kernel sources the host module and the KVM
 * guest run (built by host/bench/wasmkernels.py; never linked natively).
 *
 * Exports: eh_wasm_init(force)            dispatch tables (cpu = 0: portable
 *                                         variants; SIMD128 comes from the
 *                                         compiler when built with -msimd128);
 *                                         force: NULL or a variant string as in
 *                                         EDGEHOST_KERNEL_VARIANT
 *          eh_wasm_alloc(n) -> ptr        16-byte aligned bump allocation,
 *                                         growing linear memory; never freed
 *          eh_wasm_reset()                forget every allocation
 *          eh_wasm_run_many(req, res, n)  eh_kernel_run n times, so timing a
 *                                         call measures the kernel inside WASM
 * The module imports nothing. The freestanding kernels may call memcpy/memset/
 * memmove/memcmp (as in the guest), so they are defined here. */
#include <stddef.h>
#include <stdint.h>
#include "eh_offload.h"
#include "kernels/dispatch.h"

#define EXPORT(name) __attribute__((export_name(#name)))

extern unsigned char __heap_base;
static uintptr_t heap_top;

EXPORT(eh_wasm_init) void eh_wasm_init(const char *force) { eh_kernels_init_with(0, force); }

EXPORT(eh_wasm_reset) void eh_wasm_reset(void) { heap_top = (uintptr_t)&__heap_base; }

EXPORT(eh_wasm_alloc) uint32_t eh_wasm_alloc(uint32_t n)
{
    if (!heap_top)
        eh_wasm_reset();
    uintptr_t p = (heap_top + 15) & ~(uintptr_t)15;
    uintptr_t end = p + n;
    uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1)
        return 0;
    heap_top = end;
    return (uint32_t)p;
}

EXPORT(eh_wasm_run_many) void eh_wasm_run_many(const eh_offload_req *req, eh_offload_res *res,
                                               uint32_t n)
{
    eh_kernel_run_many(req, res, n);
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *o = d;
    const unsigned char *i = s;
    while (n--)
        *o++ = *i++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *o = d;
    const unsigned char *i = s;
    if (o < i)
        while (n--)
            *o++ = *i++;
    else
        while (n--)
            o[n] = i[n];
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *o = d;
    while (n--)
        *o++ = (unsigned char)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n--; x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}
