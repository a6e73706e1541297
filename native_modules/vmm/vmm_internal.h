/*
 * vmm_internal.h -- shared by the monitor's translation units only.
 *
 * Ownership: eh_vm (handle, vm.c) owns at most one eh_guest (a live KVM VM,
 * its memory and its vCPU thread). vCPU ioctls come from the vCPU thread,
 * or, for a cold call, from the caller while that thread is parked
 * (cold_call.c): never from two threads at once. On this host's kernel
 * (6.18) KVM_RUN from a new thread costs nothing extra (no synchronize_rcu).
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

/* vCPU thread states (eh_guest.state) */
enum { EH_VCPU_BOOTING, EH_VCPU_RUNNING, EH_VCPU_PARKED, EH_VCPU_DEAD };

/* Outcome of a call that did not complete normally (eh_guest.abort_kind). */
enum { EH_ABORT_NONE, EH_ABORT_TIMEOUT, EH_ABORT_FAULT };

typedef struct eh_snap_page {
    uint64_t pfn;
    uint8_t *copy; /* 4 KiB */
} eh_snap_page;

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
    int win_ok;          /* page tables hold the input window            */
    const uint8_t *win_hva; /* what the window's memory slot shows (NULL:   */
    uint64_t win_len;       /*   none), and how many bytes of it            */
    const uint8_t *win_last; /* the memory of the previous call's caller   */
    _Atomic uint64_t window_maps; /* memory slot registrations               */
    _Atomic uint64_t window_drops; /* ... and removals                        */
    uint64_t stale_end;  /* scratch [EH_GL_SCRATCH, stale_end) may hold an
                            earlier call's input or output (vm.c zeroes what
                            the next call does not overwrite before posting it) */

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
    int watchdog_ok;
    _Atomic uint64_t forced_parks;
    _Atomic uint32_t consume_evt;  /* futex: bumped with consumed_seq       */
    _Atomic int consume_waiting;   /* a reset waits for consumed_seq        */
    _Atomic int refresh_req;
    _Atomic uint64_t woke_at_ns;   /* when park() last returned for a call  */
    _Atomic int caller_run;    /* a caller runs the vCPU itself (cold_call.c) */
    _Atomic int reset_pending; /* stopped after a caller's run, not yet reset */
    _Atomic int caller_cpu;    /* CPU of the last caller (sched_getcpu) */
    int pinned;                /* vCPU thread moved off the caller's CPU */
    cpu_set_t affinity;        /* the vCPU thread's own mask, restored on park */   /* caller asks for a reset while warm   */
    _Atomic uint64_t exits;
    _Atomic uint64_t pings;

    /* post-init snapshot (written by the vCPU thread before BOOTING ends) */
    struct kvm_regs snap_regs;
    struct kvm_xsave snap_xsave;
    eh_snap_page *snap;
    size_t nsnap;
    uint64_t *dirty_bitmap;
    int manual_protect;  /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on (see snapshot.c) */

    /* fault report (valid once state == DEAD) */
    char fault[160];
    uint64_t fault_addr;
    int fault_has_addr;

    /* stats the vCPU thread owns */
    _Atomic uint64_t resets, last_reset_ns, last_reset_pages, log_lines;
    char log[EH_GL_LOG_MAX + 1];
    pthread_mutex_t log_lock;

    struct eh_vm *owner;
} eh_guest;

struct eh_vm {
    pthread_mutex_t lock; /* one call at a time; guards everything below */
    eh_vm_config cfg;
    char *image_path, *variant;
    uint8_t *image;
    size_t image_len;
    eh_elf_info elf;
    eh_guest *g;
    uint64_t seq;
    uint64_t spin_tsc;
    uint64_t warm_calls_since_reset; /* bounded by EH_WARM_RESET_CALLS       */
    uint64_t resets_seen, last_reset_at_ns;
    eh_vm_stats stats; /* totals of dead guests + live counters on read */
    char fault[160];
    uint64_t fault_addr;
    int fault_has_addr;
    char log[EH_GL_LOG_MAX + 1];
};

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
int eh_vcpu_sig(void);                    /* the timeout signal (handler installed) */
void eh_vcpu_bind_run(struct kvm_run *run); /* the run its handler stops, per thread */
/* The exit in g->run: an EH_DONE_* kind, 0 for a handled exit the guest may
 * continue after (log), or -1 for a fault (recorded in g, VM to destroy). */
int eh_exit_classify(eh_guest *g);
void eh_set_fault(eh_guest *g, uint64_t addr, int has_addr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Marks the guest for reset and has the parked vCPU thread do it in delay_ns. */
void eh_vcpu_schedule_reset(eh_guest *g, uint64_t delay_ns);

/* input_window.c: 1 when the window now shows mem for req's inputs in it */
int eh_window_prepare(eh_guest *g, const eh_offload_req *req, const uint8_t *mem,
                      uint64_t mem_len);
uint64_t eh_window_gpa(const eh_guest *g, uint64_t ptr, uint64_t n); /* 0: not shown */
void eh_window_drop(eh_guest *g);
int eh_live_add(eh_vm *vm);
void eh_live_remove(eh_vm *vm);

/* cold_call.c: 0 done, EH_VM_ETIMEOUT (guest reset), EH_VM_EFAULT, or 1 when
 * this thread cannot run the vCPU (no timer): use the vCPU thread. */
int eh_cold_call(eh_guest *g, uint64_t seq, uint64_t limit_ns);
int eh_cold_on_caller_ok(void); /* this kernel re-binds a vCPU cheaply */
/* Cancels a scheduled deferred reset (its caller settles reset_pending). */
void eh_vcpu_cancel_reset(eh_guest *g);

/* futex + time helpers (vcpu_thread.c) */
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
