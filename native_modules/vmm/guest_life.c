/*
 * One live guest: boot (VM, memory, layout, vCPU thread, post-init
 * snapshot, memory slots of eager windows) and teardown. Both run with the
 * handle's lock held; a guest that faulted is torn down and the handle's
 * next call boots a fresh one.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kernels/dispatch.h"
#include "vmm/vmm_internal.h"

#define EH_BOOT_MS_MIN 2000u

void eh_guest_free(eh_vm *vm, eh_guest *g)
{
    if (g->thread)
        eh_vcpu_stop(g);
    vm->stats.exits += atomic_load(&g->exits);
    vm->stats.resets += atomic_load(&g->resets);
    vm->stats.log_lines += atomic_load(&g->log_lines);
    vm->stats.forced_parks += atomic_load(&g->forced_parks);
    vm->stats.emulated_exits += atomic_load(&g->emulated_exits);
    vm->stats.window_maps += atomic_load(&g->window_maps);
    vm->stats.window_drops += atomic_load(&g->window_drops) + __builtin_popcount(g->slots);
    if (g->run)
        munmap(g->run, g->run_size);
    if (g->vcpu_fd >= 0)
        close(g->vcpu_fd); /* the memory slots go with the VM */
    if (g->vm_fd >= 0)
        close(g->vm_fd);
    eh_mem_unmap(g);
    eh_snap_free(g);
    pthread_mutex_destroy(&g->log_lock);
    pthread_mutex_destroy(&g->io_lock);
    free(g);
}

void eh_guest_fail(eh_vm *vm, eh_guest *g, char *err, size_t errlen)
{
    snprintf(vm->fault, sizeof vm->fault, "%s", g->fault[0] ? g->fault : "guest died");
    vm->fault_addr = g->fault_addr;
    vm->fault_has_addr = g->fault_has_addr;
    if (g->fault_has_addr)
        EH_ERR(err, errlen, "%s at guest address %#llx", vm->fault,
               (unsigned long long)vm->fault_addr);
    else
        EH_ERR(err, errlen, "%s", vm->fault);
    vm->stats.faults++;
    eh_guest_free(vm, g);
    vm->g = NULL;
}

static void window_config(eh_vm *vm, eh_guest *g)
{
    eh_call_window *w = g->win;
    w->cpu_features = eh_cpu_detect();
    w->spin_tsc = eh_idle_tsc(vm);
    if (vm->variant)
        snprintf(w->variant, sizeof w->variant, "%s", vm->variant);
    w->mem_end = g->mem_len;
    w->ack_tsc = (uint64_t)(EH_GL_ACK_US * eh_vm_tsc_per_us());
}

int eh_guest_boot(eh_vm *vm, char *err, size_t errlen)
{
    uint64_t t0 = eh_now_ns();
    eh_guest *g = calloc(1, sizeof *g);
    if (!g)
        return EH_OFFLOAD_SYSTEM;
    g->vm_fd = g->vcpu_fd = -1;
    g->owner = vm;
    pthread_mutex_init(&g->log_lock, NULL);
    pthread_mutex_init(&g->io_lock, NULL);
    int rc = EH_OFFLOAD_SYSTEM;
    int kvm = eh_kvm_fd(err, errlen);
    if (kvm < 0)
        goto fail;
    g->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
    if (g->vm_fd < 0) {
        EH_ERR(err, errlen, "KVM_CREATE_VM: %m");
        goto fail;
    }
    eh_dirty_setup(g); /* before the memory slot exists */
    int huge = vm->cfg.page_size != 4096;
    if ((rc = eh_mem_map(g, vm->cfg.mem_bytes, huge, err, errlen)))
        goto fail;
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .flags = KVM_MEM_LOG_DIRTY_PAGES,
        .guest_phys_addr = 0,
        .memory_size = g->mem_len,
        .userspace_addr = (uintptr_t)g->mem,
    };
    if (ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &region)) {
        EH_ERR(err, errlen, "KVM_SET_USER_MEMORY_REGION: %m");
        rc = EH_OFFLOAD_SYSTEM;
        goto fail;
    }
    if ((rc = eh_mem_layout(g, &vm->elf, vm->image, !huge, err, errlen)))
        goto fail;
    window_config(vm, g);
    if ((rc = eh_vcpu_setup(g, vm->elf.entry, err, errlen)))
        goto fail;
    uint32_t boot_ms = vm->cfg.time_limit_ms > EH_BOOT_MS_MIN ? vm->cfg.time_limit_ms
                                                               : EH_BOOT_MS_MIN;
    if ((rc = eh_vcpu_start(g, boot_ms, err, errlen)))
        goto fail;
    if (eh_windows_map_all(g)) {
        EH_ERR(err, errlen, "KVM_SET_USER_MEMORY_REGION (window): %m");
        rc = EH_OFFLOAD_SYSTEM;
        goto fail;
    }
    vm->g = g;
    vm->resets_seen = 0; /* the refresh clock starts with the new guest */
    vm->warm_calls_since_reset = 0;
    vm->refresh_due = 0;
    vm->last_reset_at_ns = eh_now_ns();
    vm->stats.creates++;
    vm->stats.last_create_ns = eh_now_ns() - t0;
    return 0;
fail:
    eh_guest_free(vm, g);
    return rc;
}
