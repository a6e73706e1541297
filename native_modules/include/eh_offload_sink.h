/*
 * eh_offload_sink.h -- the one typed door from the host API (wasmhost) to
 * whatever runs a tenant's kernels: its KVM guest (native_modules/vmm) or
 * this process (bounded by the caller's deadline). Declared once, here; the
 * compiler checks both sides of the hop.
 *
 * Statuses: eh_offload_status is the outcome of handing a request to a sink
 * (the kernel's own verdict is eh_offload_res.status). Everything above the
 * sink derives from it: the host API's EH_ERR_* results and traps
 * (wasmhost/hostapi_offload.c, a switch the compiler checks for coverage)
 * and Python's typed errors (host/isolation/guest.py reads these values from
 * the cffi lib, never retyped).
 *
 * Invariants:
 *  - A request's addresses are host pointers, already bounds-checked by the
 *    caller; a sink reads only [in, in+in_len), [in2, in2+in2_len) and writes
 *    only [out, out+out_cap).
 *  - deadline_ns is an absolute CLOCK_MONOTONIC instant (0: none beyond the
 *    sink's own limit). A call still running then is stopped and reported as
 *    EH_OFFLOAD_TIMEOUT; its output is unspecified.
 *  - attach/detach are control-plane calls (they cost a KVM memory-slot
 *    update); run is the data plane. A memory passed to attach must stay
 *    mapped until detach returns.
 */
#ifndef EH_OFFLOAD_SINK_H
#define EH_OFFLOAD_SINK_H

#include <stddef.h>
#include <stdint.h>
#include "eh_offload.h"

typedef enum eh_offload_status {
    EH_OFFLOAD_OK = 0,
    EH_OFFLOAD_FAULT = -1,     /* the guest faulted or took an illegal exit; destroyed   */
    EH_OFFLOAD_TIMEOUT = -2,   /* past the deadline or the guest's time limit; stopped  */
    EH_OFFLOAD_TOO_LARGE = -3, /* in + in2 + out do not fit the guest's memory           */
    EH_OFFLOAD_INVALID = -4,   /* bad arguments or configuration                         */
    EH_OFFLOAD_SYSTEM = -5,    /* KVM / OS failure creating or driving the guest         */
} eh_offload_status;

typedef struct eh_vm eh_vm; /* vmm/ffi.h: one tenant's KVM guest */

typedef struct eh_offload_sink {
    /* Runs one request (host pointers); err gets one line when not OK. */
    eh_offload_status (*run)(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                             uint64_t deadline_ns, char *err, size_t errlen);
    /* [mem, mem + len) (a tenant instance's linear memory) will hold inputs
     * of later calls: the sink may show it to the guest read-only so those
     * are read in place. Optional (NULL: nothing to do). */
    eh_offload_status (*attach)(eh_vm *vm, const void *mem, uint64_t len);
    /* mem is about to be freed (its pages may go to another tenant): stop
     * showing it. Safe on a guest already destroyed. Optional. */
    void (*detach)(eh_vm *vm, const void *mem);
    /* Kernel calls are about to come: a tenant whose latest request made
     * kernel calls creates an instance or starts a request
     * (wasmhost/instance.c). The sink may get ready for them (boot or
     * wake its guest) now, while the host copies the request in and the
     * tenant's code runs, so that call costs what a warm call does. Cheap
     * when already ready; never blocks on a call in flight. Optional. */
    void (*prewarm)(eh_vm *vm);
} eh_offload_sink;

/* CPU time a sink spent for this thread's calls on other threads, added up
 * (a KVM guest's vCPU thread serving a call past the caller's spin: the
 * caller sleeps meanwhile, its own CPU clock does not see it). The host's
 * per-thread CPU clock (wasmhost eh_thread_cpu_ns) counts it, so a tenant
 * whose kernels run long is charged for them whichever thread ran them
 * (serving/dispatch.c: the lower lanes). Only ever grows. Defined in
 * wasmhost/hostapi_common.c. */
extern __thread uint64_t eh_offload_charged_cpu_ns;

extern const eh_offload_sink eh_vm_sink;     /* vmm/call.c: the tenant's KVM guest   */
extern const eh_offload_sink eh_inproc_sink; /* vmm/inproc.c: in this process (vm
                                                unused), stopped at the deadline    */

#endif
