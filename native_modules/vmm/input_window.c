/*
 * The input window: large kernel inputs that live in a tenant instance's wasm
 * linear memory reach the guest without a copy.
 *
 * A second memory slot (EH_WINDOW_SLOT, KVM_MEM_READONLY, no dirty log) at
 * EH_GL_MAP_GPA shows the linear memory of ONE instance: the page tables map
 * that range ring-3 read-only (guest_mem.c), outputs stay in scratch.
 *
 * Invariants:
 *  - The slot shows only the memory of the instance whose call is running or
 *    was the last to run: it is re-pointed before another instance's input is
 *    mapped, so a kernel never sees another instance's memory, and it never
 *    shows another tenant's (each tenant has its own VM).
 *  - Before an instance's memory is freed (and wasmtime's pooling allocator
 *    may hand those pages to another tenant), eh_vm_forget drops the slot.
 *    It is safe on a VM that no longer exists: live VMs are in a global set.
 *  - Pooled linear memories never move; the slot covers the memory's size
 *    when it was registered and is re-registered when an input lies beyond.
 *  - A memory slot update costs 23 us (add) + 40 us (delete) here, more than
 *    copying 1 MiB: a memory is mapped only from its second call in a row
 *    and for inputs of at least EH_MAP_MIN bytes; anything else is copied.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "vmm/vmm_internal.h"

#define EH_WINDOW_SLOT 1
#define EH_MAP_MIN (128u << 10)

static int set_slot(eh_guest *g, const uint8_t *hva, uint64_t len)
{
    struct kvm_userspace_memory_region r = {
        .slot = EH_WINDOW_SLOT,
        .flags = len ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = EH_GL_MAP_GPA,
        .memory_size = len,
        .userspace_addr = (uintptr_t)hva,
    };
    return ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

void eh_window_drop(eh_guest *g)
{
    if (g->win_hva && set_slot(g, NULL, 0) == 0) {
        g->win_hva = NULL;
        g->win_len = 0;
        atomic_fetch_add(&g->window_drops, 1);
    }
}

static int inside(const uint8_t *base, uint64_t len, uint64_t ptr, uint64_t n)
{
    uint64_t b = (uintptr_t)base;
    return n && ptr >= b && ptr - b <= len && n <= len - (ptr - b);
}

/* End of the inputs that lie in mem, as an offset into it; 0 if none does. */
static uint64_t inputs_end(const eh_offload_req *req, const uint8_t *mem, uint64_t mem_len,
                           uint64_t *bytes)
{
    uint64_t end = 0;
    *bytes = 0;
    const uint64_t ptr[2] = {req->in, req->in2}, n[2] = {req->in_len, req->in2_len};
    for (int i = 0; i < 2; i++)
        if (inside(mem, mem_len, ptr[i], n[i])) {
            uint64_t e = ptr[i] - (uintptr_t)mem + n[i];
            end = e > end ? e : end;
            *bytes += n[i];
        }
    return end;
}

int eh_window_prepare(eh_guest *g, const eh_offload_req *req, const uint8_t *mem,
                      uint64_t mem_len)
{
    const uint8_t *last = g->win_last;
    g->win_last = mem;
    if (!g->win_ok || !mem || mem_len > EH_GL_MAP_MAX)
        return 0;
    uint64_t bytes, end = inputs_end(req, mem, mem_len, &bytes);
    if (bytes < EH_MAP_MIN)
        return 0;
    if (g->win_hva == mem && end <= g->win_len)
        return 1;
    if (last != mem)
        return 0; /* first call from this memory: copying is cheaper than a slot update */
    uint64_t len = (mem_len + EH_GL_PAGE - 1) & ~(EH_GL_PAGE - 1);
    eh_window_drop(g);
    if (g->win_hva || set_slot(g, mem, len))
        return 0;
    g->win_hva = mem;
    g->win_len = len;
    atomic_fetch_add(&g->window_maps, 1);
    return 1;
}

uint64_t eh_window_gpa(const eh_guest *g, uint64_t ptr, uint64_t n)
{
    if (!g->win_hva || !inside(g->win_hva, g->win_len, ptr, n))
        return 0;
    return EH_GL_MAP_GPA + (ptr - (uintptr_t)g->win_hva);
}

/* ---- live VMs, so that a late eh_vm_forget never touches a freed one ---- */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static eh_vm **live;
static size_t nlive, caplive;

int eh_live_add(eh_vm *vm)
{
    pthread_mutex_lock(&live_lock);
    int rc = 0;
    if (nlive == caplive) {
        size_t cap = caplive ? 2 * caplive : 16;
        eh_vm **p = realloc(live, cap * sizeof *p);
        if (p) {
            live = p;
            caplive = cap;
        } else {
            rc = -1;
        }
    }
    if (!rc)
        live[nlive++] = vm;
    pthread_mutex_unlock(&live_lock);
    return rc;
}

void eh_live_remove(eh_vm *vm)
{
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == vm) {
            live[i] = live[--nlive];
            break;
        }
    pthread_mutex_unlock(&live_lock);
}

void eh_vm_forget(void *handle, const void *mem)
{
    eh_vm *vm = handle;
    pthread_mutex_lock(&live_lock); /* held throughout: eh_vm_destroy waits for it */
    size_t i = 0;
    while (i < nlive && live[i] != vm)
        i++;
    if (i < nlive) {
        pthread_mutex_lock(&vm->lock);
        eh_guest *g = vm->g;
        if (g && g->win_hva == mem)
            eh_window_drop(g);
        if (g && g->win_last == mem)
            g->win_last = NULL;
        pthread_mutex_unlock(&vm->lock);
    }
    pthread_mutex_unlock(&live_lock);
}
