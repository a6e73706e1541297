/*
 * vmm/ffi.h -- public API of the KVM guest monitor (C callers and cffi).
 *
 * One eh_vm handle per tenant. It owns a configuration and, lazily, one live
 * KVM guest (VM + one vCPU thread). A guest that takes any exit other than
 * done/log/abort is destroyed; the handle stays valid and the next call boots
 * a fresh guest.
 *
 * Thread-safety: a handle serves one call at a time; concurrent callers are
 * serialised by the handle's mutex. Different handles are independent.
 *
 * Return codes of the calls below: 0 success (a kernel's own status is in
 * res->status), else one of EH_VM_E*; err receives one line saying why.
 */
#ifndef EH_VMM_FFI_H
#define EH_VMM_FFI_H

#include <stddef.h>
#include <stdint.h>
#include "eh_offload.h"

#define EH_VM_EFAULT   (-1) /* guest fault / illegal exit; the guest was destroyed */
#define EH_VM_ETIMEOUT (-2) /* call exceeded time_limit_ms; the guest was reset    */
#define EH_VM_ETOOBIG  (-3) /* in + in2 + out do not fit the guest's scratch memory */
#define EH_VM_EINVAL   (-4) /* bad configuration or arguments                        */
#define EH_VM_ESYS     (-5) /* KVM / OS failure creating or driving the guest        */

typedef struct eh_vm eh_vm;

/* Cold calls (guest parked) wake the vCPU thread instead of running the guest
 * on the caller's thread (the default where the kernel re-binds a vCPU to a
 * new thread cheaply, Linux >= 6.12; older kernels always wake). */
#define EH_VM_F_COLD_ON_VCPU_THREAD 1u

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
    /* cold calls (the vCPU thread was parked) and their time, summed (ns): */
    uint64_t cold_calls;
    uint64_t cold_wake_syscall_ns; /* the caller's futex wake (a cross-CPU IPI)   */
    uint64_t cold_wake_ns;   /* from before that wake to the vCPU thread running    */
    uint64_t cold_enter_ns;  /* from then to the result: VM entry + the call        */
    uint64_t caller_runs;    /* cold calls run on the caller's thread (cold_call.c) */
    uint64_t caller_run_ns;  /* their time in the guest (entry, call, exit), summed */
    uint64_t mapped_calls;   /* calls whose input the guest read in place (no copy)  */
    uint64_t window_maps;    /* times the input window was pointed at a memory       */
    uint64_t window_drops;   /* ... and taken off one (re-pointed, or forgotten)     */
} eh_vm_stats;

int eh_vm_create(const eh_vm_config *cfg, eh_vm **out, char *err, size_t errlen);
void eh_vm_destroy(eh_vm *vm);

/* Runs one kernel request. req's in/in2/out are HOST pointers: inputs are
 * copied into the guest's scratch memory, the output is copied back. */
int eh_vm_offload(void *vm, const eh_offload_req *req, eh_offload_res *res, char *err,
                  size_t errlen);

/* The same for a request from a tenant instance whose wasm linear memory is
 * [mem, mem + mem_len): large inputs inside it may be read by the guest in
 * place through the read-only input window instead of being copied. */
int eh_vm_offload_in(void *vm, const eh_offload_req *req, eh_offload_res *res,
                     const void *mem, uint64_t mem_len, char *err, size_t errlen);

/* The instance that owns mem is going away: the window stops showing it.
 * Safe to call with a handle that was already destroyed. */
void eh_vm_forget(void *vm, const void *mem);

/* Same, for any runtime op (enum eh_guest_op); test ops need the test image. */
int eh_vm_call_op(eh_vm *vm, uint32_t op, const eh_offload_req *req, eh_offload_res *res,
                  char *err, size_t errlen);

/* One call that runs req `repeat` times inside the guest (input copied in
 * once): the benchmark's measure of a kernel's own speed in the guest. */
int eh_vm_call_repeat(eh_vm *vm, const eh_offload_req *req, uint32_t repeat,
                      eh_offload_res *res, char *err, size_t errlen);

/* 1 where a cold call may run the guest on the caller's thread (the kernel
 * re-binds a vCPU to a new thread cheaply: Linux >= 6.12), else 0. */
int eh_vm_cold_on_caller(void);

/* Boots the guest now if none is live (otherwise the first call does). */
int eh_vm_boot(eh_vm *vm, char *err, size_t errlen);

/* Waits until the vCPU thread is parked (guest idle, reset done); 0 or -2. */
int eh_vm_wait_parked(eh_vm *vm, uint32_t timeout_ms);

/* Bare exit round trip: the guest exits n times; *ns_total = host wall time. */
int eh_vm_ping(eh_vm *vm, uint64_t n, uint64_t *ns_total, char *err, size_t errlen);

void eh_vm_get_stats(eh_vm *vm, eh_vm_stats *out);

/* Last fault: reason into buf; returns 1 if *addr holds a guest address. */
int eh_vm_last_fault(eh_vm *vm, char *buf, size_t len, uint64_t *addr);

/* Last line the guest logged (EH_PORT_LOG). */
void eh_vm_last_log(eh_vm *vm, char *buf, size_t len);

/* Validates a guest ELF image without loading it: 0 or EH_VM_EINVAL + err. */
int eh_vm_check_elf(const uint8_t *img, size_t len, char *err, size_t errlen);

/* TSC ticks per microsecond (calibrated once per process). */
double eh_vm_tsc_per_us(void);

/* Benchmark loops (bench.c): one latency in ns per call into lat_ns[0..n).
 * cold != 0 waits for the guest to park before each call (the exit path). */
int eh_vm_bench_calls(eh_vm *vm, const eh_offload_req *req, uint32_t n, int cold,
                      uint64_t *lat_ns, char *err, size_t errlen);
/* The same through eh_vm_offload_in: req's inputs lie in the "linear memory" mem. */
int eh_vm_bench_calls_in(eh_vm *vm, const eh_offload_req *req, const void *mem, uint64_t mem_len,
                         uint32_t n, int cold, uint64_t *lat_ns, char *err, size_t errlen);
void eh_vm_bench_inproc(const eh_offload_req *req, uint32_t n, uint64_t *lat_ns);

#endif
