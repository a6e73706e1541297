/*
 * eh_guest_layout.h -- the one description of a KVM guest that the monitor
 * (native_modules/vmm) and the guest runtime (native_modules/guest) share:
 * guest physical map, call window, exit ports, runtime ops.
 *
 * Invariants:
 *  - Guest virtual == guest physical (identity map). Page 0 is never mapped.
 *  - [0, EH_GL_SYS_END) belongs to the monitor (GDT, IDT, TSS, ring-0 fault
 *    trampolines and stack, page tables): supervisor-only, invisible to the
 *    ring-3 guest. The guest ELF never supplies ring-0 code.
 *  - Everything the guest runs is ring 3. Its only ways out are 32-bit
 *    writes to EH_GL_EXIT_VA + EH_PORT_* (an MMIO exit: the page maps to a
 *    guest-physical address no memory slot backs); every other exit is a
 *    fault. (Port I/O is not used: PVM hosts drop a ring-3 IOPL of 3.)
 *  - The call window is the only guest memory the monitor does not restore on
 *    reset: it is the channel, rewritten by the host on every call.
 *  - The image's writable segments are written only while the runtime
 *    initialises; from EH_DONE_INIT on they are read-only (a write faults),
 *    so nothing a call does can outlive it there.
 *  - Sizes are multiples of 4 KiB; 2 MiB-mapped regions are 2 MiB aligned.
 *  - The structures here are fixed-size and pointer-free (x86-64 both sides).
 */
#ifndef EH_GUEST_LAYOUT_H
#define EH_GUEST_LAYOUT_H

#include <stdint.h>
#include "eh_offload.h"

#define EH_GL_PAGE 0x1000ull
#define EH_GL_HUGE 0x200000ull

/* ---- guest physical map (identity-mapped) ------------------------------ */
#define EH_GL_GDT        0x1000ull   /* GDT + TSS (supervisor)              */
#define EH_GL_IDT        0x2000ull   /* 256 x 16-byte gates (supervisor)    */
#define EH_GL_TRAMP      0x3000ull   /* ring-0 fault trampolines (RX)       */
#define EH_GL_SYSCALL    0x3400ull   /* LSTAR: `syscall` entry (ring 0)      */
#define EH_GL_SYSCALL_VEC 0x100      /* pseudo-vector it reports             */
#define EH_GL_R0_STACK   0x4000ull   /* 4 pages ring-0 stack, top = 0x8000  */
#define EH_GL_R0_STACK_TOP 0x8000ull
#define EH_GL_PT_BASE    0x8000ull   /* PML4, PDPT, PD, then PTs            */
#define EH_GL_EXIT_VA    0x1FF000ull /* exit page: ring-3 writable, maps    */
#define EH_GL_EXIT_GPA   0x40000000ull /* to a GPA outside every memory slot */
#define EH_GL_SYS_END    EH_GL_HUGE  /* end of the monitor's region          */

#define EH_GL_WINDOW     0x200000ull /* call window (ring-3 RW, NX)          */
#define EH_GL_WINDOW_SIZE 0x10000ull

#define EH_GL_IMAGE_BASE 0x400000ull /* ELF PT_LOAD segments live here      */
#define EH_GL_IMAGE_END  0xC00000ull
#define EH_GL_WRITABLE_MAX 0x200000ull /* writable segments span at most this;
                                        read-only for ring 3 once the runtime
                                        has initialised (the monitor
                                        write-protects them after EH_DONE_INIT) */
#define EH_GL_STACK_SIZE 0x10000ull  /* 64 KiB ring-3 stack, guard page below */
#define EH_GL_STACK_TOP  0x1000000ull
#define EH_GL_STACK_BASE (EH_GL_STACK_TOP - EH_GL_STACK_SIZE)
#define EH_GL_LOW_END    0x1000000ull /* [0,16 MiB) is mapped with 4 KiB pages */

#define EH_GL_SCRATCH    0x1000000ull /* [16 MiB, mem end): I/O buffers, RW NX,
                                         2 MiB or 4 KiB pages per VM config   */

/* Windows: host memories the guest reads in place (a tenant instance's wasm
 * linear memory, a buffer shared by a Python caller). Window i lies at
 * EH_GL_MAP_GPA + i * EH_GL_MAP_MAX: ring-3 READ-ONLY, NX, 2 MiB pages,
 * identity-mapped like the rest, built once at boot. Each is backed (when at
 * all) by its own read-only memory slot (vmm/windows.c); an access past the
 * slot is an MMIO exit or a failed fault-in, i.e. a fault. */
#define EH_GL_MAP_GPA    (4ull << 30)
#define EH_GL_MAP_MAX    (4ull << 30)  /* one window: a wasm32 memory at most   */
#define EH_GL_WINDOWS    16

#define EH_GL_MEM_MIN    (32ull << 20)
#define EH_GL_MEM_MAX    (1ull << 30)  /* one PD: 512 x 2 MiB                */

/* ---- segment selectors -------------------------------------------------- */
#define EH_GL_SEL_KCODE 0x08
#define EH_GL_SEL_KDATA 0x10
#define EH_GL_SEL_UDATA 0x1B /* 0x18 | RPL 3 */
#define EH_GL_SEL_UCODE 0x23 /* 0x20 | RPL 3 */
#define EH_GL_SEL_TSS   0x28

/* ---- exit "ports": offsets in the exit page (the only legal exits) ----- *
 * The guest writes a uint32_t value at EH_GL_EXIT_VA + port.               */
#define EH_PORT_DONE  0xE0 /* value = enum eh_done_kind                     */
#define EH_PORT_LOG   0xE4 /* window.log[0..log_len) holds one line        */
#define EH_PORT_ABORT 0xE8 /* value = guest's abort code; VM is destroyed   */
/* The ring-0 fault trampoline reports CPU exceptions with a real `out` to
 * I/O port EH_PORT_FAULT (ring 0 may; ring 3 may not). VM destroyed.       */
#define EH_PORT_FAULT 0xE3

/* The exit, as the guest runtime issues it. */
#define EH_GUEST_EXIT(port, val) \
    (*(volatile uint32_t *)(uintptr_t)(EH_GL_EXIT_VA + (port)) = (uint32_t)(val))

enum eh_done_kind {
    EH_DONE_INIT = 1, /* runtime initialised: the monitor snapshots here      */
    EH_DONE_CALL = 2, /* a call finished and the host asked to be woken       */
    EH_DONE_IDLE = 3, /* idle window over: the vCPU thread may park           */
    EH_DONE_PING = 4, /* bare exit for the round-trip benchmark               */
};

/* ---- runtime ops (window.op) ------------------------------------------- */
enum eh_guest_op {
    EH_OP_OFFLOAD = 0, /* eh_kernel_run(&req, &res)                          */
    EH_OP_PING = 1,    /* exit with EH_DONE_PING req.arg[0] times            */
    EH_OP_REPEAT = 2,  /* eh_kernel_run(&req, &res) window.repeat times: the
                          benchmark's in-guest kernel speed, no copy per run */
    /* 0x100.. : test-only ops, present in edgehost-guest-test.elf only      */
    EH_OP_TEST_READ = 0x100,   /* read 8 bytes at req.arg[0]                  */
    EH_OP_TEST_WRITE = 0x101,  /* write 8 bytes at req.arg[0]                 */
    EH_OP_TEST_LOOP = 0x102,   /* spin forever                                */
    EH_OP_TEST_PORT = 0x103,   /* exit-page write at offset req.arg[0]        */
    EH_OP_TEST_HLT = 0x104,    /* hlt (privileged in ring 3)                  */
    EH_OP_TEST_STASH = 0x105,  /* write req.arg[0] into scratch, stack, xmm15 */
    EH_OP_TEST_PEEK = 0x106,   /* value: EH_PEEK_* bits of a STASH still seen  */
    EH_OP_TEST_DIRTY = 0x107,  /* write one byte per page, req.arg[0] bytes    */
    EH_OP_TEST_LOG = 0x108,    /* log one line                                 */
    EH_OP_TEST_ABORT = 0x109,  /* abort exit                                   */
    EH_OP_TEST_JUMP = 0x10A,   /* call req.arg[0] as code                      */
    EH_OP_TEST_OUT = 0x10B,    /* `out` instruction to I/O port req.arg[0]     */
    EH_OP_TEST_SYSCALL = 0x10C,/* `syscall` (no Linux ABI yet: a fault)       */
    EH_OP_TEST_ROGUE = 0x10D,  /* complete the call, then spin, never park    */
    EH_OP_TEST_IMAGE = 0x10E,  /* write the image's .bss (read-only after init) */
    EH_OP_TEST_STASH_PEEK = 0x10F, /* STASH then PEEK within one call         */
};

/* EH_OP_TEST_PEEK's value: what an earlier EH_OP_TEST_STASH left behind. */
#define EH_PEEK_SCRATCH 2 /* far into scratch (outside any call's I/O ranges) */
#define EH_PEEK_STACK   4 /* on the stack, below the runtime's loop frame      */
#define EH_PEEK_VECTOR  8 /* in a vector register (xmm15)                       */
#define EH_PEEK_DEEP   16 /* at the bottom of a 2 KiB frame (zero stack above)  */

/* ---- the call window (at EH_GL_WINDOW) ---------------------------------- *
 * Protocol (seq numbers only grow; the guest keeps no state across calls):
 *  host: writes op/req, clears res, then req_seq = n (release).
 *  guest: sees req_seq != done_seq, stores taken_seq = req_seq, runs,
 *         writes res; for a kernel op (OFFLOAD, REPEAT) zeroes its output
 *         range past min(out_len, out_cap) and stores scrubbed_seq =
 *         req_seq; then done_seq = req_seq (release), full fence, then exits
 *         with EH_DONE_CALL iff host_waiting != 0 (the host stopped spinning
 *         and sleeps). taken_seq is only a hint (the window is guest-
 *         writable): a guest that burns CPU without taking a posted call is
 *         stuck since its previous call, and the host replaces it (call.c).
 *  host: sets host_waiting, full fence, re-checks done_seq before sleeping,
 *        so a completion is never missed (Dekker pairing on two fences).
 *  host: stores host_ack = n once it has seen the completion. A guest that
 *        sees no ack within EH_GL_ACK_US exits with EH_DONE_CALL anyway: the
 *        caller is not running (it may share the vCPU's core), so the guest
 *        must give the core back instead of spinning.
 *  guest idles: spins on req_seq for spin_tsc TSC ticks, then EH_DONE_IDLE.
 */
#define EH_GL_ACK_US 10
#define EH_GL_VARIANT_MAX 32
#define EH_GL_LOG_MAX 256

typedef struct eh_call_window {
    volatile uint64_t req_seq;      /* host -> guest doorbell               */
    volatile uint64_t host_waiting; /* host sleeps: guest must exit on done */
    volatile uint64_t host_ack;     /* host has seen done_seq == host_ack   */
    uint64_t _pad0[5];
    volatile uint64_t done_seq;     /* guest -> host completion             */
    volatile uint64_t taken_seq;    /* guest -> host: the last call it took */
    volatile uint64_t scrubbed_seq; /* guest -> host: this call's output range
                                       past min(out_len, out_cap) is zero   */
    uint64_t _pad1[5];
    /* set by the host before the guest starts (spin_tsc also at every
     * reset and when the idle window adapts, vmm/idle.c) */
    uint64_t cpu_features;          /* EH_CPU_* mask detected on the host   */
    uint64_t spin_tsc;              /* idle window in TSC ticks; 0 = none   */
    char variant[EH_GL_VARIANT_MAX];/* kernel variant override, "" = auto   */
    uint64_t mem_end;               /* end of guest memory (scratch end)    */
    uint64_t ack_tsc;               /* EH_GL_ACK_US in TSC ticks            */
    uint64_t _pad2[4];
    /* per call */
    uint32_t op;                    /* enum eh_guest_op                     */
    uint32_t repeat;                /* EH_OP_REPEAT's count                 */
    eh_offload_req req;             /* addresses are guest addresses        */
    eh_offload_res res;
    uint32_t log_len;
    char log[EH_GL_LOG_MAX];
} eh_call_window;

_Static_assert(sizeof(eh_call_window) <= EH_GL_WINDOW_SIZE, "window fits");
_Static_assert(__builtin_offsetof(eh_call_window, done_seq) == 64, "own cache line");
/* Where spin_tsc sits in the window (tests write it from a hostile guest). */
#define EH_GL_WIN_SPIN_TSC 136
_Static_assert(__builtin_offsetof(eh_call_window, spin_tsc) == EH_GL_WIN_SPIN_TSC, "spin_tsc");

/* ---- the layout's fingerprint ------------------------------------------ */
/* A host library and a guest image built from two versions of this header
 * would read each other's window fields at the wrong offsets: every call
 * would "succeed" with whatever bytes sit there. So the guest image carries
 * EH_GL_LAYOUT_ID in an ELF note (name EH_GL_NOTE_NAME, type
 * EH_GL_NOTE_LAYOUT; guest/runtime.c) and the monitor refuses an image whose
 * note is missing or differs from its own (vmm/elf_load.c). The id mixes
 * every offset and size both sides use, the fixed addresses, the ports and
 * EH_GL_PROTOCOL, which a change of meaning with no change of layout bumps
 * (such as who zeroes which range). */
#define EH_GL_PROTOCOL 2
#define EH_GL_NOTE_NAME "edgehost"
#define EH_GL_NOTE_LAYOUT 0x4c41594fu /* "LAYO" */
#define EH_GL_MIX_(h, v) ((((uint64_t)(h)) ^ (uint64_t)(v)) * 0x100000001b3ull)
#define EH_GL_OFF_(f) __builtin_offsetof(eh_call_window, f)
/* FNV-1a-style, one step per value, so that it stays a constant expression. */
#define EH_GL_ID_0 0xcbf29ce484222325ull
#define EH_GL_ID_1 EH_GL_MIX_(EH_GL_ID_0, EH_GL_PROTOCOL)
#define EH_GL_ID_2 EH_GL_MIX_(EH_GL_ID_1, EH_GL_OFF_(req_seq))
#define EH_GL_ID_3 EH_GL_MIX_(EH_GL_ID_2, EH_GL_OFF_(host_waiting))
#define EH_GL_ID_4 EH_GL_MIX_(EH_GL_ID_3, EH_GL_OFF_(host_ack))
#define EH_GL_ID_5 EH_GL_MIX_(EH_GL_ID_4, EH_GL_OFF_(done_seq))
#define EH_GL_ID_6 EH_GL_MIX_(EH_GL_ID_5, EH_GL_OFF_(taken_seq))
#define EH_GL_ID_7 EH_GL_MIX_(EH_GL_ID_6, EH_GL_OFF_(scrubbed_seq))
#define EH_GL_ID_8 EH_GL_MIX_(EH_GL_ID_7, EH_GL_OFF_(cpu_features))
#define EH_GL_ID_9 EH_GL_MIX_(EH_GL_ID_8, EH_GL_OFF_(spin_tsc))
#define EH_GL_ID_10 EH_GL_MIX_(EH_GL_ID_9, EH_GL_OFF_(variant))
#define EH_GL_ID_11 EH_GL_MIX_(EH_GL_ID_10, EH_GL_OFF_(mem_end))
#define EH_GL_ID_12 EH_GL_MIX_(EH_GL_ID_11, EH_GL_OFF_(ack_tsc))
#define EH_GL_ID_13 EH_GL_MIX_(EH_GL_ID_12, EH_GL_OFF_(op))
#define EH_GL_ID_14 EH_GL_MIX_(EH_GL_ID_13, EH_GL_OFF_(repeat))
#define EH_GL_ID_15 EH_GL_MIX_(EH_GL_ID_14, EH_GL_OFF_(req))
#define EH_GL_ID_16 EH_GL_MIX_(EH_GL_ID_15, EH_GL_OFF_(res))
#define EH_GL_ID_17 EH_GL_MIX_(EH_GL_ID_16, EH_GL_OFF_(log_len))
#define EH_GL_ID_18 EH_GL_MIX_(EH_GL_ID_17, EH_GL_OFF_(log))
#define EH_GL_ID_19 EH_GL_MIX_(EH_GL_ID_18, sizeof(eh_call_window))
#define EH_GL_ID_20 EH_GL_MIX_(EH_GL_ID_19, sizeof(eh_offload_req))
#define EH_GL_ID_21 EH_GL_MIX_(EH_GL_ID_20, sizeof(eh_offload_res))
#define EH_GL_ID_22 EH_GL_MIX_(EH_GL_ID_21, EH_GL_WINDOW)
#define EH_GL_ID_23 EH_GL_MIX_(EH_GL_ID_22, EH_GL_WINDOW_SIZE)
#define EH_GL_ID_24 EH_GL_MIX_(EH_GL_ID_23, EH_GL_EXIT_VA)
#define EH_GL_ID_25 EH_GL_MIX_(EH_GL_ID_24, EH_PORT_DONE)
#define EH_GL_ID_26 EH_GL_MIX_(EH_GL_ID_25, EH_PORT_LOG)
#define EH_GL_ID_27 EH_GL_MIX_(EH_GL_ID_26, EH_PORT_ABORT)
#define EH_GL_ID_28 EH_GL_MIX_(EH_GL_ID_27, EH_GL_SCRATCH)
#define EH_GL_ID_29 EH_GL_MIX_(EH_GL_ID_28, EH_GL_STACK_TOP)
#define EH_GL_ID_30 EH_GL_MIX_(EH_GL_ID_29, EH_GL_IMAGE_BASE)
#define EH_GL_ID_31 EH_GL_MIX_(EH_GL_ID_30, EH_GL_LOG_MAX)
#define EH_GL_ID_32 EH_GL_MIX_(EH_GL_ID_31, EH_GL_VARIANT_MAX)
#define EH_GL_LAYOUT_ID EH_GL_ID_32

#endif
