/*
 * vmm_internal.h -- shared by the monitor's translation units only.
 *
 * Ownership: eh_vm (handle.c) owns at most one eh_guest (a live KVM VM, its
 * memory and its vCPU thread; guest_life.c) and the list of host memories
 * shown to its guests (windows.c). vCPU ioctls come from the vCPU thread,
 * or, for a cold call, from the caller while that thread is parked
 * (cold_call.c): never from two threads at once. On this host's kernel
 * (6.18) KVM_RUN from a new thread costs nothing extra (no synchronize_rcu).
 *
 * Files, in the order a call meets them: handle.c (the handle), call.c (the
 * call path and the KVM sink), io_plan.c (where inputs and outputs go),
 * windows.c (host memory read in place), cold_call.c / vcpu_thread.c (who
 * runs the vCPU), snapshot.c (resets), guest_life.c (boot and teardown),
 * guest_mem.c / vcpu_setup.c / elf_load.c / image.c (what boot builds),
 * thread_signal.c (the one signal and each thread's deadline timer),
 * clock.c (time and futexes), inproc.c (the in-process sink).
 *
 * Every .c file of the monitor defines _GNU_SOURCE before any include
 * (cpu_set_t, pthread_*affinity_np).
 */
#ifndef EH_VMM_INTERNAL_H
#define EH_VMM_INTERNAL_H

#include <linux/kvm.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "eh_guest_layout.h"
#include "vmm/ffi.h"

#define EH_ELF_MAX_SEGS 8
#define EH_ELF_MAX_FILE (16u << 20)

typedef struct eh_elf_seg {
    uint64_t vaddr, memsz, offset, filesz;
    uint32_t flags; /* PF_R / PF_W / PF_X */
} eh_elf_seg;

typedef struct eh_elf_info {
    uint64_t entry;
    int nseg;
    eh_elf_seg seg[EH_ELF_MAX_SEGS];
    uint64_t wr_lo, wr_hi; /* page-rounded span of writable segments (0,0 if none) */
} eh_elf_info;

/* elf_load.c */
int eh_elf_parse(const uint8_t *img, size_t len, eh_elf_info *out, char *err, size_t errlen);
void eh_elf_copy(const uint8_t *img, const eh_elf_info *info, uint8_t *mem);
/* image.c: reads and validates the handle's guest image file */
int eh_image_read(eh_vm *vm, char *err, size_t errlen);

/* vCPU thread states (eh_guest.state) */
enum { EH_VCPU_BOOTING, EH_VCPU_RUNNING, EH_VCPU_PARKED, EH_VCPU_DEAD };

/* Outcome of a call that did not complete normally (eh_guest.abort_kind). */
enum { EH_ABORT_NONE, EH_ABORT_TIMEOUT, EH_ABORT_FAULT };

typedef struct eh_snap_page {
    uint64_t pfn;
    uint8_t *copy; /* 4 KiB */
} eh_snap_page;

/* A host memory the handle shows to its guests read-only (windows.c):
 * window i is at guest address EH_GL_MAP_GPA + i * EH_GL_MAP_MAX. */
typedef struct eh_window {
    const uint8_t *hva; /* NULL: free                                            */
    uint64_t len;       /* page-rounded                                          */
    uint32_t large_calls; /* calls with a large input from it so far            */
    int eager;          /* map at once (a shared buffer), not on its second call */
} eh_window;

typedef struct eh_guest {
    int vm_fd, vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    uint8_t *map;        /* raw mapping (unaligned)                   */
    size_t map_len;
    uint8_t *mem;        /* 2 MiB-aligned guest physical 0            */
    uint64_t mem_len;
    eh_call_window *win; /* host view of the call window              */
    uint64_t pt_end;     /* end of the page tables the monitor wrote  */
    int windows_ok;      /* page tables map the EH_GL_WINDOWS windows  */
    uint32_t slots;      /* bit i: window i's memory slot is registered */
    _Atomic uint64_t window_maps; /* memory slot registrations               */
    _Atomic uint64_t window_drops; /* ... and removals                        */
    struct { uint64_t lo, hi; } stale[3]; /* scratch ranges the last call's
                            copies or its output may have written (io_plan.c
                            zeroes what the next call does not overwrite) */
    uint64_t io_hi;      /* calls since the last reset may have written scratch
                            below this (the end of their I/O ranges; io_lock):
                            that reset leaves its dirty pages writable
                            (snapshot.c); <= EH_GL_SCRATCH: none */

    pthread_t thread;
    _Atomic pid_t tid;
    _Atomic int state;
    _Atomic int stop;          /* destroy requested                     */
    _Atomic uint32_t wake;     /* futex: bumped to unpark the vCPU     */
    _Atomic uint32_t event;    /* futex: bumped by the vCPU on news    */
    _Atomic uint64_t kill_seq; /* the call whose deadline passed       */
    _Atomic uint64_t aborted_seq; /* last call ended by timeout/fault */
    _Atomic int abort_kind;
    pthread_mutex_t io_lock;   /* guest memory: caller copies vs. resets */
    _Atomic uint64_t posted_seq;   /* last call the host posted (host truth:
                                      the window is guest-writable)          */
    _Atomic uint64_t consumed_seq; /* last call whose result the host took */
    _Atomic uint64_t consumed_at_ns;
    timer_t watchdog;              /* periodic while unparked (vcpu_thread.c) */
    clockid_t cpu_clock;           /* the vCPU thread's CPU-time clock        */
    int watchdog_ok;
    _Atomic uint64_t forced_parks;
    _Atomic uint64_t emulated_exits; /* exit-page stores KVM failed to emulate (vcpu_thread.c) */
    _Atomic int replace;       /* abandoned on a caller's thread: free it (cold_call.c) */
    _Atomic uint32_t consume_evt;  /* futex: bumped with consumed_seq       */
    _Atomic int consume_waiting;   /* a reset waits for consumed_seq        */
    _Atomic int refresh_req;       /* caller asks for a reset while warm   */
    _Atomic int warm_req;          /* parked thread: start spinning (prewarm) */
    _Atomic uint64_t woke_at_ns;   /* when park() last returned for a call  */
    _Atomic uint64_t idle_parked_at_ns; /* parked at its idle window's end, not
                                      yet found by a call (idle.c); else 0 */
    _Atomic int caller_run;    /* a caller runs the vCPU itself (cold_call.c) */
    _Atomic int reset_pending; /* stopped after a caller's run, not yet reset */
    _Atomic int at_snapshot;   /* reset (or just booted), no call posted since:
                                  set under io_lock by resets, cleared by posting */
    _Atomic int caller_cpu;    /* CPU of the last caller (sched_getcpu) */
    int pinned;                /* vCPU thread moved off the caller's CPU */
    cpu_set_t affinity;        /* the vCPU thread's own mask, restored on park */
    _Atomic uint64_t exits;
    _Atomic uint64_t pings;

    /* post-init snapshot (written by the vCPU thread before BOOTING ends) */
    struct kvm_regs snap_regs;
    struct kvm_xsave snap_xsave;
    struct kvm_sregs snap_sregs; /* put back when a call is abandoned (below) */
    eh_snap_page *snap;
    size_t nsnap;
    uint64_t *dirty_bitmap;
    int manual_protect;  /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on (see snapshot.c) */

    /* fault report (valid once state == DEAD) */
    char fault[160];
    uint64_t fault_addr;
    int fault_has_addr;

    /* stats the vCPU thread owns */
    _Atomic uint64_t resets, last_reset_ns, last_reset_pages, last_reset_kept, log_lines;
    char log[EH_GL_LOG_MAX + 1];
    pthread_mutex_t log_lock;

    struct eh_vm *owner;
} eh_guest;

struct eh_vm {
    _Atomic int refs;     /* owners: the creator, plus each eh_vm_retain      */
    pthread_mutex_t lock; /* one call at a time; guards everything below */
    eh_vm_config cfg;
    char *image_path, *variant;
    uint8_t *image;
    size_t image_len;
    eh_elf_info elf;
    eh_guest *g;
    eh_window windows[EH_GL_WINDOWS];
    uint32_t slots_due;   /* windows whose slot to register once the call is posted */
    uint64_t seq;
    /* The idle window in effect, ns (written under lock, read by the vCPU
     * thread's watchdog): cfg.idle_spin_us, grown while calls keep finding
     * the guest just parked (idle.c). The guest's copy is win->spin_tsc. */
    _Atomic uint64_t idle_ns;
    uint64_t warm_calls_since_reset; /* bounded by EH_WARM_RESET_CALLS       */
    uint64_t resets_seen, last_reset_at_ns;
    int refresh_due;   /* a refresh was asked for and not yet seen done (call.c) */
    int one_cpu;       /* created on one CPU: no spin, caller runs resume (handle.c) */
    int cold_last;     /* its last picked cold call: 1 caller's run, 0 wake, -1 none */
    eh_vm_stats stats; /* totals of dead guests + live counters on read */
    _Atomic uint64_t lock_timeouts; /* calls whose deadline passed waiting for lock */
    char fault[160];
    uint64_t fault_addr;
    int fault_has_addr;
    char log[EH_GL_LOG_MAX + 1];
};

/* guest_life.c: boots vm->g (vm->lock held), or tears one down */
int eh_guest_boot(eh_vm *vm, char *err, size_t errlen);
void eh_guest_free(eh_vm *vm, eh_guest *g);
/* Records g's fault in vm and err, destroys g (vm->g = NULL): the next call boots anew. */
void eh_guest_fail(eh_vm *vm, eh_guest *g, char *err, size_t errlen);

/* guest_mem.c: builds page tables, GDT/IDT/TSS, trampolines and loads the image */
int eh_mem_map(eh_guest *g, uint64_t mem_len, int huge, char *err, size_t errlen);
int eh_mem_layout(eh_guest *g, const eh_elf_info *elf, const uint8_t *img, int scratch_4k,
                  char *err, size_t errlen);
void eh_mem_unmap(eh_guest *g);

/* vcpu_setup.c */
int eh_kvm_fd(char *err, size_t errlen);
int eh_vcpu_setup(eh_guest *g, uint64_t entry, char *err, size_t errlen);

/* snapshot.c */
int eh_snap_take(eh_guest *g, const eh_elf_info *elf, char *err, size_t errlen);
int eh_snap_reset(eh_guest *g, int abandon_call);
void eh_dirty_setup(eh_guest *g);
void eh_snap_free(eh_guest *g);

/* vcpu_thread.c */
int eh_vcpu_start(eh_guest *g, uint32_t boot_ms, char *err, size_t errlen);
void eh_vcpu_stop(eh_guest *g);
void eh_vcpu_kick(eh_guest *g);
void eh_vcpu_wake(eh_guest *g); /* unparks the vCPU thread (futex) */
/* The exit in g->run: an EH_DONE_* kind, 0 for a handled exit the guest may
 * continue after (log), or -1 for a fault (recorded in g, VM to destroy). */
int eh_exit_classify(eh_guest *g);
/* A failed KVM_RUN (errno set): records the fault in g. */
void eh_run_failed(eh_guest *g);
void eh_set_fault(eh_guest *g, uint64_t addr, int has_addr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Marks the guest for reset and has the parked vCPU thread do it in delay_ns. */
void eh_vcpu_schedule_reset(eh_guest *g, uint64_t delay_ns);

/* The adaptive idle window (idle.c). */
void eh_idle_init(eh_vm *vm);                 /* cfg.idle_spin_us, at create      */
uint64_t eh_idle_tsc(eh_vm *vm);              /* the window in TSC ticks          */
void eh_idle_found_parked(eh_vm *vm, eh_guest *g); /* a call or prewarm found it parked */
/* Cancels a scheduled deferred reset (its caller settles reset_pending). */
void eh_vcpu_cancel_reset(eh_guest *g);

/* thread_signal.c: the monitor's one signal. Its handler stops the KVM_RUN
 * bound to this thread (immediate_exit), or unwinds the in-process kernel
 * run armed on it (inproc.c). */
int eh_sig(void);                          /* the signal number (handler installed) */
void eh_sig_bind_run(struct kvm_run *run); /* the run the handler stops, this thread */
timer_t *eh_thread_timer(void);            /* this thread's timer for eh_sig, or NULL */
void eh_timer_set(timer_t *t, uint64_t first_ns, uint64_t every_ns); /* 0, 0 disarms */

/* windows.c */
int eh_windows_map_all(eh_guest *g);  /* at boot: memory slots of eager windows */
/* Guest addresses of req's inputs where a window shows them and the call may
 * read them there (its inputs total EH_VM_IN_PLACE_MIN or more), else 0.
 * May mark windows' memory slots due for later calls. */
void eh_windows_place(eh_vm *vm, const eh_offload_req *req, uint64_t *in, uint64_t *in2);
/* Registers the slots eh_windows_place found due (while the guest runs the call). */
void eh_windows_settle(eh_vm *vm);
int eh_live_add(eh_vm *vm);
void eh_live_remove(eh_vm *vm);

/* io_plan.c: where one call's inputs and output go in guest memory */
typedef struct eh_io_plan {
    uint64_t in, in2, out;  /* guest addresses the kernel gets                    */
    uint64_t s_in, s_in2;   /* where copied inputs go in scratch                  */
    uint64_t c_in, c_in2;   /* bytes copied there (0: read in place via a window)  */
    uint64_t end;           /* first scratch byte past the output                 */
} eh_io_plan;
int eh_io_plan_make(eh_vm *vm, const eh_offload_req *req, eh_io_plan *p, char *err,
                    size_t errlen);
/* Copies the inputs in and zeroes what earlier calls left (io_lock held). */
void eh_io_stage(eh_guest *g, const eh_offload_req *req, const eh_io_plan *p);
/* The call completed and the guest runtime zeroed its output range past the
 * first n bytes (scrubbed_seq): the next call's clear need only cover those
 * (io_lock held). */
void eh_io_output_scrubbed(eh_guest *g, const eh_io_plan *p, uint64_t n);

/* split.c: requests too large for scratch, run piece by piece where the kernel allows */
typedef eh_offload_status (*eh_call_fn)(eh_vm *vm, const eh_offload_req *req,
                                        eh_offload_res *res, uint64_t deadline_ns, char *err,
                                        size_t errlen);
int eh_split_ok(const eh_offload_req *req);
eh_offload_status eh_split_run(eh_vm *vm, eh_call_fn call1, const eh_offload_req *req,
                               eh_offload_res *res, uint64_t deadline_ns, char *err,
                               size_t errlen);

/* What bounds one call (call.c): the wall-clock instant it must end by (the
 * caller's deadline, or a backstop far past the CPU limit when the caller
 * gave none) and the CPU time the guest may spend on it (the handle's
 * time_limit_ms: a runaway guard a busy machine cannot trip). Checked every
 * EH_LIMIT_CHECK_NS once a call has run that long; `why` records which
 * ended it. */
#define EH_LIMIT_CHECK_NS 10000000ull
enum { EH_LIMIT_NONE, EH_LIMIT_DEADLINE, EH_LIMIT_CPU, EH_LIMIT_STUCK };
typedef struct eh_call_limits {
    uint64_t wall;      /* CLOCK_MONOTONIC instant                          */
    uint64_t cpu_ns;    /* guest CPU time allowed                           */
    int callers;        /* wall is the caller's deadline (else a backstop)  */
    int may_be_stuck;   /* the guest ran since its last reset (EH_TAKE_CPU_NS) */
    int why;            /* EH_LIMIT_* that stopped the call                 */
} eh_call_limits;
/* Which limit has run out, given the guest's CPU time since the call began
 * (an upper bound), or EH_LIMIT_NONE. */
int eh_limits_passed(eh_call_limits *l, uint64_t now, uint64_t cpu_used);

/* A guest stuck since its previous call -- hung in the runtime's clean-up
 * after it (stack and register scrub), or taken over by a kernel -- never
 * comes back to the doorbell, so a call posted to it would wait its whole
 * time limit and fail as a timeout of a kernel that never ran. The runtime
 * stores taken_seq when it takes a call (eh_guest_layout.h); a guest that
 * has spent EH_TAKE_CPU_NS of CPU time since the call was posted without
 * taking it (a healthy one takes it within microseconds: what is left of a
 * scrub) is stuck: the wait (call.c wait_call, or cold_call.c on the
 * caller's thread) ends with EH_CALL_NOT_TAKEN, the caller replaces the
 * guest (the fault names the call it did not take; stats.stalled) and runs
 * the call once more, on the fresh guest. Nothing is lost, and a kernel the
 * stuck guest took at the last instant runs again: a kernel is a pure
 * function of its inputs. CPU time, not wall time: a guest the machine
 * starves is not stuck. A guest that faults before it takes a call (in the
 * clean-up after the previous one, say) is replaced and the call run again
 * the same way. taken_seq is guest-written: a guest that lies about it
 * falls back to the time limit, or has a call run twice (once per call).
 * Only a guest that ran since its last reset can be stuck so: one posted a
 * call at its snapshot (eh_guest.at_snapshot) goes straight from the
 * doorbell loop to taking it, and CPU time spent before that is the host's
 * (faulting its memory in); such a call keeps only the time limit. */
#define EH_TAKE_CPU_NS 5000000ull
#define EH_CALL_NOT_TAKEN 2 /* internal outcome, never returned by eh_vm_* */

/* cold_call.c: 0 done, EH_OFFLOAD_TIMEOUT (guest reset), EH_OFFLOAD_FAULT,
 * EH_CALL_NOT_TAKEN, or 1 when this thread cannot run the vCPU (no timer):
 * use the vCPU thread. */
int eh_cold_call(eh_guest *g, uint64_t seq, eh_call_limits *lim);
int eh_cold_on_caller_ok(void); /* this kernel re-binds a vCPU cheaply */
/* Which cold path a call that may take either takes: 1 the caller's run, 0 a
 * wake; `sampled`: its latency will be noted (eh_cold_note). */
int eh_cold_pick_caller(int sampled);
void eh_cold_note(int caller, uint64_t ns);
#define EH_COLD_SAMPLE_MAX 4096u /* inputs up to this many bytes: a sampled cold call */

/* clock.c: time and futexes */
void eh_futex_wake(_Atomic uint32_t *w);
int eh_futex_wait(_Atomic uint32_t *w, uint32_t val, int64_t timeout_ns);
uint64_t eh_now_ns(void);

static inline uint64_t eh_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

#define EH_ERR(err, errlen, ...) \
    do { if ((err) && (errlen)) snprintf((err), (errlen), __VA_ARGS__); } while (0)

#endif
