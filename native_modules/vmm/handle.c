/*
 * The eh_vm handle: configuration, the guest image, lazy boot, and what
 * callers read about it (stats, last fault, last log line). It outlives any
 * number of guests: a faulted guest is replaced on the next call.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vmm/vmm_internal.h"

eh_offload_status eh_vm_create(const eh_vm_config *cfg, eh_vm **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->image_path) {
        EH_ERR(err, errlen, "no guest image path");
        return EH_OFFLOAD_INVALID;
    }
    eh_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return EH_OFFLOAD_SYSTEM;
    vm->cold_last = -1;
    pthread_mutex_init(&vm->lock, NULL);
    atomic_init(&vm->refs, 1);
    vm->cfg = *cfg;
    if (!vm->cfg.mem_bytes)
        vm->cfg.mem_bytes = 256ull << 20;
    if (!vm->cfg.time_limit_ms)
        vm->cfg.time_limit_ms = 1000;
    if (!vm->cfg.page_size)
        vm->cfg.page_size = 2u << 20;
    /* A guest spins after a call only where its vCPU thread, which inherits
     * the creating thread's CPU mask, has a CPU besides the caller's: on the
     * only CPU it may use, the spin takes the core from the very caller it
     * waits for (measured under PVM, caller and guest on one CPU: a 64 KiB
     * CRC32C call 128 us p50 with a 100 us spin, 75 us exiting each time).
     * Such a handle runs its calls on the caller's thread (where the kernel
     * allows it, cold_call.c) and, unlike an idle_spin_us of 0 asked for,
     * keeps the warm path's reset policy (call.c: resume_unreset). */
    cpu_set_t mask;
    if (vm->cfg.idle_spin_us && sched_getaffinity(0, sizeof mask, &mask) == 0 &&
        CPU_COUNT(&mask) == 1) {
        vm->cfg.idle_spin_us = 0;
        vm->one_cpu = 1;
    }
    vm->image_path = strdup(cfg->image_path);
    vm->variant = cfg->variant && cfg->variant[0] ? strdup(cfg->variant) : NULL;
    vm->cfg.image_path = vm->image_path;
    vm->cfg.variant = vm->variant;
    int rc = 0;
    if (vm->cfg.mem_bytes < EH_GL_MEM_MIN || vm->cfg.mem_bytes > EH_GL_MEM_MAX ||
        vm->cfg.mem_bytes % EH_GL_HUGE) {
        EH_ERR(err, errlen, "mem_bytes must be a multiple of 2 MiB in [32 MiB, 1 GiB]");
        rc = EH_OFFLOAD_INVALID;
    } else if (vm->cfg.page_size != 4096 && vm->cfg.page_size != (2u << 20)) {
        EH_ERR(err, errlen, "page_size must be 4096 or 2097152");
        rc = EH_OFFLOAD_INVALID;
    } else if (vm->variant && strlen(vm->variant) >= EH_GL_VARIANT_MAX) {
        EH_ERR(err, errlen, "variant name too long");
        rc = EH_OFFLOAD_INVALID;
    } else {
        rc = eh_image_read(vm, err, errlen);
    }
    if (rc) {
        eh_vm_destroy(vm);
        return rc;
    }
    eh_idle_init(vm);
    if (eh_live_add(vm)) {
        eh_vm_destroy(vm);
        return EH_OFFLOAD_SYSTEM;
    }
    *out = vm;
    return EH_OFFLOAD_OK;
}

void eh_vm_retain(eh_vm *vm) { atomic_fetch_add(&vm->refs, 1); }

void eh_vm_destroy(eh_vm *vm)
{
    if (!vm || atomic_fetch_sub(&vm->refs, 1) > 1)
        return;
    eh_live_remove(vm); /* waits out an eh_vm_detach that is using it */
    pthread_mutex_lock(&vm->lock);
    if (vm->g)
        eh_guest_free(vm, vm->g);
    vm->g = NULL;
    pthread_mutex_unlock(&vm->lock);
    pthread_mutex_destroy(&vm->lock);
    free(vm->image);
    free(vm->image_path);
    free(vm->variant);
    free(vm);
}

eh_offload_status eh_vm_boot(eh_vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    int rc = vm->g ? 0 : eh_guest_boot(vm, err, errlen);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

void eh_vm_prewarm(eh_vm *vm)
{
    if (!vm || pthread_mutex_trylock(&vm->lock))
        return; /* a call holds the guest: it is not parked */
    eh_guest *g = vm->g; /* none yet: the first call boots it, as before */
    if (g && vm->cfg.idle_spin_us && atomic_load(&g->state) == EH_VCPU_PARKED) {
        eh_idle_found_parked(vm, g);
        if (atomic_exchange(&g->reset_pending, 0)) /* as call.c: into the warm regime */
            eh_vcpu_cancel_reset(g);
        atomic_store(&g->consumed_at_ns, eh_now_ns()); /* the watchdog's idle clock */
        atomic_store(&g->warm_req, 1); /* taken with this lock: vcpu_thread.c */
        eh_vcpu_wake(g);
    }
    pthread_mutex_unlock(&vm->lock);
}

eh_offload_status eh_vm_wait_parked(eh_vm *vm, uint32_t timeout_ms)
{
    pthread_mutex_lock(&vm->lock);
    eh_guest *g = vm->g;
    int rc = 0;
    uint64_t deadline = eh_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (g) {
        uint32_t e = atomic_load(&g->event);
        int st = atomic_load(&g->state);
        if (st == EH_VCPU_PARKED && atomic_exchange(&g->reset_pending, 0)) {
            eh_vcpu_cancel_reset(g); /* we hold the lock the vCPU thread would need */
            if (eh_snap_reset(g, 0) < 0)
                rc = EH_OFFLOAD_SYSTEM;
        }
        if (st == EH_VCPU_PARKED || st == EH_VCPU_DEAD)
            break;
        int64_t left = (int64_t)(deadline - eh_now_ns());
        if (left <= 0) {
            rc = EH_OFFLOAD_TIMEOUT;
            break;
        }
        eh_futex_wait(&g->event, e, left);
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

void eh_vm_get_stats(eh_vm *vm, eh_vm_stats *out)
{
    pthread_mutex_lock(&vm->lock);
    *out = vm->stats;
    out->idle_spin_us = vm->cfg.idle_spin_us;
    out->idle_window_us = atomic_load(&vm->idle_ns) / 1000u;
    out->timeouts += atomic_load(&vm->lock_timeouts);
    eh_guest *g = vm->g;
    if (g) {
        out->exits += atomic_load(&g->exits);
        out->resets += atomic_load(&g->resets);
        out->log_lines += atomic_load(&g->log_lines);
        out->forced_parks += atomic_load(&g->forced_parks);
        out->emulated_exits += atomic_load(&g->emulated_exits);
        out->window_maps += atomic_load(&g->window_maps);
        out->window_drops += atomic_load(&g->window_drops);
        out->last_reset_ns = atomic_load(&g->last_reset_ns);
        out->last_reset_pages = atomic_load(&g->last_reset_pages);
        out->last_reset_kept = atomic_load(&g->last_reset_kept);
        clockid_t cid;
        struct timespec ts;
        if (pthread_getcpuclockid(g->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
            out->vcpu_cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
    }
    pthread_mutex_unlock(&vm->lock);
}

int eh_vm_last_fault(eh_vm *vm, char *buf, size_t len, uint64_t *addr)
{
    pthread_mutex_lock(&vm->lock);
    snprintf(buf, len, "%s", vm->fault);
    *addr = vm->fault_addr;
    int has = vm->fault_has_addr;
    pthread_mutex_unlock(&vm->lock);
    return has;
}

void eh_vm_last_log(eh_vm *vm, char *buf, size_t len)
{
    pthread_mutex_lock(&vm->lock);
    eh_guest *g = vm->g;
    if (g) {
        pthread_mutex_lock(&g->log_lock);
        snprintf(vm->log, sizeof vm->log, "%s", g->log);
        pthread_mutex_unlock(&g->log_lock);
    }
    snprintf(buf, len, "%s", vm->log);
    pthread_mutex_unlock(&vm->lock);
}
