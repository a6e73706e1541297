/*
 * vmm/ffi.h -- public API of the KVM guest monitor (C callers and cffi).
 *
 * One eh_vm handle per tenant. It owns a configuration, the host memories
 * its guest may read in place (windows), and, lazily, one live KVM guest
 * (VM + one vCPU thread). A guest that takes any exit other than
 * done/log/abort is destroyed; the handle stays valid and the next call
 * boots a fresh guest.
 *
 * Thread-safety: a handle serves one call at a time; concurrent callers are
 * serialised by the handle's mutex (a caller's deadline counts while it
 * waits). Different handles are independent.
 *
 * Results: eh_offload_status (include/eh_offload_sink.h) -- EH_OFFLOAD_OK
 * (a kernel's own status is in res->status) or why not; err receives one
 * line saying why. The same functions make up eh_vm_sink, the host API's
 * door to a tenant's guest.
 */
#ifndef EH_VMM_FFI_H
#define EH_VMM_FFI_H

#include <stddef.h>
#include <stdint.h>
#include "eh_offload.h"
#include "eh_offload_sink.h"
#include "eh_guest_layout.h"

/* Cold calls (guest parked) always wake the vCPU thread instead of running
 * the guest on the caller's thread (older kernels than Linux 6.12, which
 * re-bind a vCPU to a new thread slowly, always wake). */
#define EH_VM_F_COLD_ON_VCPU_THREAD 1u
/* Cold calls always run on the caller's thread where the kernel allows it.
 * Neither flag: each cold call takes the path measured faster on this
 * machine (cold_call.c, eh_vm_cold_paths). */
#define EH_VM_F_COLD_ON_CALLER 2u

typedef struct eh_vm_config {
    uint64_t mem_bytes;      /* guest RAM = per-VM memory cap; 32 MiB..1 GiB, 0 = 256 MiB */
    uint32_t time_limit_ms;  /* per call; 0 = 1000                                         */
    uint32_t idle_spin_us;   /* exit-less window after a call; 0 = exit after every call    */
    uint32_t page_size;      /* scratch mapping: 2097152 (default) or 4096                  */
    uint32_t flags;          /* EH_VM_F_*                                                   */
    const char *image_path;  /* guest ELF (untrusted input: fully validated)                */
    const char *variant;     /* kernel variant override (EDGEHOST_KERNEL_VARIANT), or NULL  */
} eh_vm_config;

typedef struct eh_vm_stats {
    uint64_t calls;          /* completed calls                                    */
    uint64_t warm_calls;     /* answered while the vCPU was spinning (no exit)     */
    uint64_t exits;          /* KVM_RUN returns of the current and past guests     */
    uint64_t resets;         /* authoritative host resets                          */
    uint64_t creates;        /* guests booted                                      */
    uint64_t faults;
    uint64_t timeouts;
    uint64_t last_reset_ns;
    uint64_t last_create_ns;
    uint64_t last_reset_pages; /* dirty pages restored by the last reset           */
    uint64_t vcpu_cpu_ns;    /* CPU time of the live guest's vCPU thread           */
    uint64_t log_lines;
    uint64_t forced_parks;   /* idle guests the watchdog had to stop and reset */
    uint64_t emulated_exits; /* exit-page stores KVM failed to emulate, decoded here */
    uint64_t replaced;       /* guests freed, not reset, after a caller-run call timed out */
    /* cold calls (the vCPU thread was parked) and their time, summed (ns): */
    uint64_t cold_calls;
    uint64_t cold_wake_syscall_ns; /* the caller's futex wake (a cross-CPU IPI)   */
    uint64_t cold_wake_ns;   /* from before that wake to the vCPU thread running    */
    uint64_t cold_enter_ns;  /* from then to the result: VM entry + the call        */
    uint64_t caller_runs;    /* cold calls run on the caller's thread (cold_call.c) */
    uint64_t caller_run_ns;  /* their time in the guest (entry, call, exit), summed */
    uint64_t mapped_calls;   /* calls whose input the guest read in place (no copy)  */
    uint64_t window_maps;    /* memory slots registered for windows                  */
    uint64_t window_drops;   /* ... and removed (detached, or the guest went away)    */
    uint64_t stalled;        /* guests replaced because they were stuck or faulted
                                before taking a posted call (broken since their
                                previous one: vmm_internal.h EH_TAKE_CPU_NS); the
                                call then ran on a fresh guest                       */
    uint64_t idle_spin_us;   /* the spin in effect: 0 where the creating thread had
                                one CPU (handle.c), else eh_vm_config's             */
    uint64_t idle_window_us; /* the idle window now: idle_spin_us, grown up to
                                EH_IDLE_GROW_MAX times while calls come just after
                                the guest parked (vmm/idle.c)                        */
    uint64_t idle_grows;     /* times it grew                                        */
    uint64_t last_reset_kept; /* of last_reset_pages, scratch pages in the I/O
                                 ranges of the calls before that reset, restored
                                 but left writable (vmm/snapshot.c)                  */
} eh_vm_stats;

/* A handle has owners: its creator, and whoever called eh_vm_retain (a
 * native tenant that runs its kernels there). eh_vm_destroy drops one; the
 * last destroys the guest and frees the handle. */
eh_offload_status eh_vm_create(const eh_vm_config *cfg, eh_vm **out, char *err, size_t errlen);
void eh_vm_retain(eh_vm *vm);
void eh_vm_destroy(eh_vm *vm);

/* Runs one kernel request; req's in/in2/out are HOST pointers. Inputs that
 * lie in an attached window (eh_vm_attach) may be read in place, others are
 * copied into the guest's scratch memory; the output is copied back.
 * deadline_ns: CLOCK_MONOTONIC instant the call must end by (0: none beyond
 * the handle's time_limit_ms); the earlier of the two applies. */
eh_offload_status eh_vm_offload(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                                uint64_t deadline_ns, char *err, size_t errlen);

/* Shows [mem, mem + len) to the guest, read-only, until eh_vm_detach: inputs
 * inside it are then read in place instead of copied (EH_OFFLOAD_OK), once
 * that is cheaper -- from the memory's second call whose inputs total at
 * least EH_VM_IN_PLACE_MIN bytes (a memory slot costs more than one copy), or at
 * once with EH_VM_ATTACH_NOW (a buffer made to be shared, 2 MiB aligned).
 * mem must be page-aligned and len <= EH_GL_MAP_MAX. EH_OFFLOAD_TOO_LARGE
 * when all EH_GL_WINDOWS windows are taken (inputs are then copied).
 * Attaching a memory again updates its length. */
#define EH_VM_ATTACH_NOW 1u
#define EH_VM_IN_PLACE_MIN (64u << 10)
eh_offload_status eh_vm_attach(eh_vm *vm, const void *mem, uint64_t len, uint32_t flags);

/* The memory is going away (its pages may go to another tenant): the guest
 * stops seeing it. Safe with a handle that was already destroyed. */
void eh_vm_detach(eh_vm *vm, const void *mem);

/* Same as eh_vm_offload for any runtime op (enum eh_guest_op); test ops need
 * the test image. */
eh_offload_status eh_vm_call_op(eh_vm *vm, uint32_t op, const eh_offload_req *req,
                                eh_offload_res *res, uint64_t deadline_ns, char *err,
                                size_t errlen);

/* One call that runs req `repeat` times inside the guest (input copied in
 * once): the benchmark's measure of a kernel's own speed in the guest. */
eh_offload_status eh_vm_call_repeat(eh_vm *vm, const eh_offload_req *req, uint32_t repeat,
                                    eh_offload_res *res, char *err, size_t errlen);

/* 1 when a request with these sizes fits the guest's scratch memory
 * (inputs copied, nothing read in place), else 0. */
int eh_vm_fits(const eh_vm *vm, uint64_t in_len, uint64_t in2_len, uint64_t out_cap);

/* 1 where a cold call may run the guest on the caller's thread (the kernel
 * re-binds a vCPU to a new thread cheaply: Linux >= 6.12), else 0. */
int eh_vm_cold_on_caller(void);
/* The process's measure of both cold paths: moving averages (ns, 0 = not
 * sampled yet) and sample counts, [0] run on the caller's thread, [1] wake
 * the vCPU thread (cold_call.c). The averages decide once both paths have
 * EH_VM_COLD_FIRST samples. */
#define EH_VM_COLD_FIRST 4u
void eh_vm_cold_paths(uint64_t avg_ns[2], uint64_t samples[2]);
/* This thread's eh_offload_charged_cpu_ns (include/eh_offload_sink.h): CPU
 * that vCPU threads spent on its calls while it slept. */
uint64_t eh_vm_charged_cpu_ns(void);
/* Replace that measure (tests; a process that knows its machine). */
void eh_vm_cold_paths_set(const uint64_t avg_ns[2], const uint64_t samples[2]);

/* A call is about to come (a tenant instance was just created): a parked
 * guest starts spinning for the handle's idle window from now, so the call
 * finds it warm. Costs the caller a wake (~10 us here) only when the guest
 * is parked; does nothing while a call runs or before the first boots it. */
void eh_vm_prewarm(eh_vm *vm);

/* Boots the guest now if none is live (otherwise the first call does). */
eh_offload_status eh_vm_boot(eh_vm *vm, char *err, size_t errlen);

/* Waits until the vCPU thread is parked (guest idle, reset done). */
eh_offload_status eh_vm_wait_parked(eh_vm *vm, uint32_t timeout_ms);

/* Bare exit round trip: the guest exits n times; *ns_total = host wall time. */
eh_offload_status eh_vm_ping(eh_vm *vm, uint64_t n, uint64_t *ns_total, char *err,
                             size_t errlen);

void eh_vm_get_stats(eh_vm *vm, eh_vm_stats *out);

/* Last fault: reason into buf; returns 1 if *addr holds a guest address. */
int eh_vm_last_fault(eh_vm *vm, char *buf, size_t len, uint64_t *addr);

/* Last line the guest logged (EH_PORT_LOG). */
void eh_vm_last_log(eh_vm *vm, char *buf, size_t len);

/* Validates a guest ELF image without loading it: EH_OFFLOAD_OK or _INVALID + err. */
eh_offload_status eh_vm_check_elf(const uint8_t *img, size_t len, char *err, size_t errlen);

/* TSC ticks per microsecond (calibrated once per process). */
double eh_vm_tsc_per_us(void);

#endif
