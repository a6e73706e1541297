/*
 * Windows: host memories a guest reads in place, so large inputs that live
 * there need no copy -- a tenant instance's wasm linear memory (attached by
 * the host API on the instance's first kernel call), or a buffer a Python
 * caller shares with the guest (host/isolation/guest.py SharedBuffer).
 *
 * The handle lists up to EH_GL_WINDOWS memories; window i is shown at guest
 * address EH_GL_MAP_GPA + i * EH_GL_MAP_MAX through its own memory slot
 * (slot 1 + i, KVM_MEM_READONLY, no dirty log) under page tables built once
 * at boot (guest_mem.c: ring-3 read-only, NX). Outputs never go there.
 *
 * What a window costs, measured on this PVM host: registering a memory slot
 * 23 us, removing it 40 us, and the guest's first read of each 4 KiB page
 * through it ~5 us (a shadow-page fault); a copy costs ~35 us per MiB. So a
 * window's slot is registered once and kept until the memory is detached,
 * never per call; a tenant memory gets its slot on its second large call --
 * one whose inputs total EH_VM_IN_PLACE_MIN bytes or more, however they are
 * split (a dot product's two halves, top-k's query and rows) -- after that
 * call is posted, so the update overlaps the kernel: instances used once
 * never pay for a slot; from the next large call on, each of its inputs
 * that a window shows is read in place. Inputs of smaller calls are always
 * copied. A shared buffer (EH_VM_ATTACH_NOW) is registered at once.
 *
 * Invariants:
 *  - A window shows one memory of the handle's own tenant (each tenant has
 *    its own handle); it stops showing it before that memory is freed
 *    (eh_vm_detach, called before wasmtime can hand its pages to anyone
 *    else). If a slot cannot be removed, the guest is destroyed instead.
 *  - eh_vm_detach is safe on a handle that is gone: live handles are kept
 *    in a global set.
 *  - A memory slot covers the memory's length when attached; an input past
 *    it is copied until the host API attaches the grown memory again.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "vmm/vmm_internal.h"

#define EH_WINDOW_SLOT0 1u

static uint64_t window_base(int i) { return EH_GL_MAP_GPA + (uint64_t)i * EH_GL_MAP_MAX; }

static int set_slot(eh_guest *g, int i, const uint8_t *hva, uint64_t len)
{
    struct kvm_userspace_memory_region r = {
        .slot = EH_WINDOW_SLOT0 + (uint32_t)i,
        .flags = len ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = window_base(i),
        .memory_size = len,
        .userspace_addr = (uintptr_t)hva,
    };
    return ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static int slot_on(eh_guest *g, int i)
{
    const eh_window *w = &g->owner->windows[i];
    if (!g->windows_ok || (g->slots & (1u << i)))
        return 0;
    if (set_slot(g, i, w->hva, w->len))
        return -1;
    g->slots |= 1u << i;
    atomic_fetch_add(&g->window_maps, 1);
    return 0;
}

/* Stops showing window i; a guest whose slot cannot be removed is destroyed. */
static void slot_off(eh_vm *vm, int i)
{
    eh_guest *g = vm->g;
    if (!g || !(g->slots & (1u << i)))
        return;
    if (set_slot(g, i, NULL, 0) == 0) {
        g->slots &= ~(1u << i);
        atomic_fetch_add(&g->window_drops, 1);
        return;
    }
    eh_set_fault(g, 0, 0, "could not remove a window's memory slot: %m");
    eh_guest_fail(vm, g, NULL, 0);
}

/* A window earns its slot once: eager, or its second large call. */
static int earned(const eh_window *w) { return w->eager || w->large_calls >= 2; }

int eh_windows_map_all(eh_guest *g)
{
    for (int i = 0; i < EH_GL_WINDOWS; i++) {
        const eh_window *w = &g->owner->windows[i];
        if (w->hva && earned(w) && slot_on(g, i))
            return -1;
    }
    return 0;
}

static int inside(const eh_window *w, uint64_t ptr, uint64_t n)
{
    uint64_t b = (uintptr_t)w->hva;
    return w->hva && n && ptr >= b && ptr - b <= w->len && n <= w->len - (ptr - b);
}

/* Guest address of [ptr, ptr+n) where window i shows it with its slot on,
 * else 0; *seen gets the bit of the window that holds it, slot or not. */
static uint64_t gpa_of(eh_vm *vm, uint64_t ptr, uint64_t n, uint32_t *seen)
{
    for (int i = 0; i < EH_GL_WINDOWS; i++) {
        const eh_window *w = &vm->windows[i];
        if (!inside(w, ptr, n))
            continue;
        *seen |= 1u << i;
        return (vm->g->slots & (1u << i)) ? window_base(i) + (ptr - (uintptr_t)w->hva) : 0;
    }
    return 0;
}

void eh_windows_place(eh_vm *vm, const eh_offload_req *req, uint64_t *in, uint64_t *in2)
{
    *in = *in2 = 0;
    if (req->in_len < EH_VM_IN_PLACE_MIN && req->in2_len < EH_VM_IN_PLACE_MIN - req->in_len)
        return; /* a small call (the sum written so it cannot wrap) */
    uint32_t seen = 0;
    *in = gpa_of(vm, req->in, req->in_len, &seen);
    *in2 = gpa_of(vm, req->in2, req->in2_len, &seen);
    for (int i = 0; i < EH_GL_WINDOWS; i++) { /* one large call per window, however many inputs */
        eh_window *w = &vm->windows[i];
        if (!(seen & (1u << i)) || (vm->g->slots & (1u << i)))
            continue;
        if (w->large_calls < 2)
            w->large_calls++;
        if (earned(w))
            vm->slots_due |= 1u << i;
    }
}

void eh_windows_settle(eh_vm *vm)
{
    eh_guest *g = vm->g;
    uint32_t due = vm->slots_due;
    vm->slots_due = 0;
    for (int i = 0; g && due; i++, due >>= 1)
        if ((due & 1) && vm->windows[i].hva && slot_on(g, i))
            vm->windows[i].large_calls = 0; /* copy on; try again two calls later */
}

eh_offload_status eh_vm_attach(eh_vm *vm, const void *mem, uint64_t len, uint32_t flags)
{
    if (!vm || !mem || ((uintptr_t)mem & (EH_GL_PAGE - 1)) || !len || len > EH_GL_MAP_MAX)
        return EH_OFFLOAD_INVALID;
    len = (len + EH_GL_PAGE - 1) & ~(EH_GL_PAGE - 1);
    eh_offload_status rc = EH_OFFLOAD_TOO_LARGE;
    pthread_mutex_lock(&vm->lock);
    int i = 0, free_i = -1;
    for (; i < EH_GL_WINDOWS && vm->windows[i].hva != mem; i++)
        if (free_i < 0 && !vm->windows[i].hva)
            free_i = i;
    if (i == EH_GL_WINDOWS)
        i = free_i;
    if (i >= 0) {
        eh_window *w = &vm->windows[i];
        if (w->hva && w->len != len) { /* the memory grew: show all of it */
            slot_off(vm, i);
            w->large_calls = w->large_calls ? 1 : 0;
        }
        if (!w->hva)
            *w = (eh_window){.hva = mem, .len = len};
        w->len = len;
        w->eager |= (flags & EH_VM_ATTACH_NOW) != 0;
        rc = EH_OFFLOAD_OK;
        if (vm->g && earned(w) && slot_on(vm->g, i))
            rc = EH_OFFLOAD_SYSTEM;
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

/* ---- live handles, so that a late detach never touches a freed one ---- */
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

void eh_vm_detach(eh_vm *vm, const void *mem)
{
    pthread_mutex_lock(&live_lock); /* held throughout: eh_vm_destroy waits for it */
    size_t k = 0;
    while (k < nlive && live[k] != vm)
        k++;
    if (k < nlive && mem) {
        pthread_mutex_lock(&vm->lock);
        for (int i = 0; i < EH_GL_WINDOWS; i++)
            if (vm->windows[i].hva == mem) {
                slot_off(vm, i);
                vm->slots_due &= ~(1u << i);
                memset(&vm->windows[i], 0, sizeof vm->windows[i]);
            }
        pthread_mutex_unlock(&vm->lock);
    }
    pthread_mutex_unlock(&live_lock);
}
