/*
 * Test-only guest ops (EH_OP_TEST_*), linked into edgehost-guest-test.elf and
 * never into the production image. Each op misbehaves in one precise way so
 * tests/kvm can check that the monitor contains it.
 */
#include <stdint.h>
#include "eh_guest_layout.h"

static volatile uint64_t image_data; /* .bss: read-only once the runtime has initialised */

/* Same call depth from STASH and PEEK -> same stack slot. */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized" /* PEEK reads stale stack on purpose */
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((noinline)) static uint64_t stack_slot(int write, uint64_t v)
{
    volatile uint64_t slot[64];
    if (write) {
        for (int i = 0; i < 64; i++)
            slot[i] = v;
        return v;
    }
    uint64_t acc = 0;
    for (int i = 0; i < 64; i++)
        acc |= slot[i];
    return acc;
}

/* A 2 KiB frame written only at its bottom: above that one word lies a run
 * of untouched (zero) stack as long as the frame, the case the warm-path
 * scrub's stopping rule must see past (start.S). */
__attribute__((noinline)) static uint64_t stack_deep(int write, uint64_t v)
{
    volatile uint64_t big[256];
    if (write) {
        big[0] = v;
        return v;
    }
    return big[0];
}

static volatile uint64_t *stash_scratch(eh_call_window *w)
{
    return (volatile uint64_t *)(uintptr_t)(w->mem_end - EH_GL_PAGE);
}

/* Both at the same call depth from the op switch, so they meet the same slots. */
__attribute__((noinline)) static void stash(eh_call_window *w, uint64_t v)
{
    *stash_scratch(w) = v;
    stack_slot(1, v);
    stack_deep(1, v);
    __asm__ volatile("movq %0, %%xmm15" : : "r"(v) : "xmm15");
}

__attribute__((noinline)) static uint64_t peek(eh_call_window *w)
{
    uint64_t v;
    __asm__ volatile("movq %%xmm15, %0" : "=r"(v));
    return (*stash_scratch(w) != 0 ? EH_PEEK_SCRATCH : 0) |
           (stack_slot(0, 0) != 0 ? EH_PEEK_STACK : 0) | (v != 0 ? EH_PEEK_VECTOR : 0) |
           (stack_deep(0, 0) != 0 ? EH_PEEK_DEEP : 0);
}

void eh_guest_test_op(eh_call_window *w)
{
    uint64_t a0 = w->req.arg[0];
    switch (w->op) {
    case EH_OP_TEST_READ:
        w->res.value = *(volatile uint64_t *)(uintptr_t)a0;
        return;
    case EH_OP_TEST_WRITE:
        *(volatile uint64_t *)(uintptr_t)a0 = w->req.arg[1];
        return;
    case EH_OP_TEST_LOOP:
        for (;;)
            __builtin_ia32_pause();
    case EH_OP_TEST_PORT:
        EH_GUEST_EXIT(a0 & (EH_GL_PAGE - 4), 0);
        return;
    case EH_OP_TEST_ROGUE:
        __atomic_store_n(&w->done_seq, w->req_seq, __ATOMIC_RELEASE);
        for (;;) {
            w->req_seq = w->done_seq + 1; /* and lie on the channel */
            __builtin_ia32_pause();
        }
    case EH_OP_TEST_SYSCALL:
        __asm__ volatile("syscall" : : "a"(60) : "rcx", "r11", "memory");
        return;
    case EH_OP_TEST_OUT:
        __asm__ volatile("outl %0, %1" : : "a"(0), "d"((uint16_t)a0) : "memory");
        return;
    case EH_OP_TEST_HLT:
        __asm__ volatile("hlt");
        return;
    case EH_OP_TEST_IMAGE:
        image_data = a0;
        return;
    case EH_OP_TEST_STASH:
        stash(w, a0);
        return;
    case EH_OP_TEST_PEEK:
        w->res.value = peek(w);
        return;
    case EH_OP_TEST_STASH_PEEK: /* within one call PEEK must see all of a STASH */
        stash(w, a0);
        w->res.value = peek(w);
        return;
    case EH_OP_TEST_DIRTY:
        for (uint64_t off = 0; off < a0; off += EH_GL_PAGE)
            *(volatile uint8_t *)(uintptr_t)(EH_GL_SCRATCH + (2ull << 20) + off) = 1;
        return;
    case EH_OP_TEST_LOG: {
        static const char msg[] = "hello from the guest";
        for (unsigned i = 0; i < sizeof msg - 1; i++)
            w->log[i] = msg[i];
        w->log_len = sizeof msg - 1;
        EH_GUEST_EXIT(EH_PORT_LOG, 0);
        return;
    }
    case EH_OP_TEST_ABORT:
        EH_GUEST_EXIT(EH_PORT_ABORT, 7);
        return;
    case EH_OP_TEST_JUMP:
        ((void (*)(void))(uintptr_t)a0)();
        return;
    default:
        w->res.status = EH_K_ENOTSUP;
        return;
    }
}

/*
 * Hostile instruction stubs for tests/security/kvm. They need no op of their
 * own: a test finds a stub's address in this image's symbol table and runs it
 * with EH_OP_TEST_JUMP. Each executes what ring 3 must not get away with (or
 * an exit the monitor does not define) and returns if the CPU lets it.
 */
/* The assembler takes no C suffixes or operands at file scope: the layout
 * values the stubs use are spelled out here and checked against the header. */
#define ASM_EXIT_VA 0x1FF000
#define ASM_WINDOW 0x200000
#define ASM_LOG_LEN 352
_Static_assert(ASM_EXIT_VA == EH_GL_EXIT_VA, "exit page");
_Static_assert(ASM_WINDOW == EH_GL_WINDOW, "call window");
_Static_assert(ASM_LOG_LEN == __builtin_offsetof(eh_call_window, log_len), "log_len");
_Static_assert(EH_PORT_DONE == 0xE0 && EH_PORT_LOG == 0xE4 && EH_PORT_FAULT == 0xE3, "ports");
#define EH_STR_(x) #x
#define EH_STR(x) EH_STR_(x)
#define EH_EXIT_AT(port) EH_STR(ASM_EXIT_VA) "+" EH_STR(port)
#define STUB(name, insns) ".globl eh_hostile_" #name "\neh_hostile_" #name ":\n" insns "\nret\n"
__asm__(".pushsection .text.eh_hostile, \"ax\"\n"
        /* privileged or I/O instructions: #GP or #UD in ring 3 */
        STUB(rdmsr, "mov $0x10, %ecx\nrdmsr")
        STUB(wrmsr, "mov $0xC0000082, %ecx\nxor %eax, %eax\nxor %edx, %edx\nwrmsr")
        STUB(read_cr3, "mov %cr3, %rax")
        STUB(write_cr3, "xor %eax, %eax\nmov %rax, %cr3")
        STUB(write_cr0, "xor %eax, %eax\nmov %rax, %cr0")
        STUB(write_cr4, "xor %eax, %eax\nmov %rax, %cr4")
        STUB(write_dr7, "mov $0x3ff, %eax\nmov %rax, %dr7")
        STUB(lgdt, "sub $16, %rsp\nmovq $0, (%rsp)\nmovq $0, 8(%rsp)\nlgdt (%rsp)\nadd $16, %rsp")
        STUB(lidt, "sub $16, %rsp\nmovq $0, (%rsp)\nmovq $0, 8(%rsp)\nlidt (%rsp)\nadd $16, %rsp")
        STUB(ltr, "mov $0x28, %ax\nltr %ax")
        STUB(cli, "cli")
        STUB(sti, "sti")
        STUB(clts, "clts")
        STUB(invlpg, "invlpg (%rsp)")
        STUB(wbinvd, "wbinvd")
        STUB(xsetbv, "xor %ecx, %ecx\nmov $1, %eax\nxor %edx, %edx\nxsetbv")
        STUB(in_port, "in $0x60, %al")
        STUB(swapgs, "swapgs")
        STUB(rdpmc, "xor %ecx, %ecx\nrdpmc")
        STUB(ud2, "ud2")
        STUB(int3, "int3")
        STUB(int80, "int $0x80")
        STUB(int_trampoline_vector, "int $0x0e") /* a fault vector, by software */
        STUB(sysenter, "sysenter")
        STUB(load_kernel_ss, "mov $0x10, %eax\nmov %eax, %ss")
        STUB(load_tss_ds, "mov $0x28, %eax\nmov %eax, %ds")
        /* return into ring 0: a far return and an iretq to the kernel code segment */
        STUB(lret_ring0, "lea 1f(%rip), %rax\npush $0x08\npush %rax\nlretq\n1:")
        STUB(iret_ring0, "mov %rsp, %rax\npush $0x10\npush %rax\npushfq\npush $0x08\n"
             "lea 1f(%rip), %rax\npush %rax\niretq\n1:")
        /* instructions a ring-3 guest may run: they must simply return */
        STUB(cpuid, "push %rbx\nxor %eax, %eax\ncpuid\npop %rbx")
        STUB(rdtsc, "rdtsc")
        /* exits the monitor does not define */
        STUB(exit_read, "mov " EH_EXIT_AT(0xE0) ", %eax")
        STUB(exit_write8, "movb $2, " EH_EXIT_AT(0xE0))
        STUB(exit_write64, "movq $2, " EH_EXIT_AT(0xE0))
        STUB(exit_done_zero, "movl $0, " EH_EXIT_AT(0xE0))
        STUB(exit_done_99, "movl $99, " EH_EXIT_AT(0xE0))
        STUB(exit_done_init_again, "movl $1, " EH_EXIT_AT(0xE0))
        STUB(exit_fault_port, "movl $14, " EH_EXIT_AT(0xE3))
        STUB(exit_last_dword, "movl $0, " EH_EXIT_AT(0xFFC))
        /* legal exits at the wrong moment: the call must still end cleanly */
        STUB(exit_done_call_early, "mov $100, %ecx\n1: movl $2, " EH_EXIT_AT(0xE0)
             "\ndec %ecx\njnz 1b")
        STUB(exit_done_idle_mid_call, "movl $3, " EH_EXIT_AT(0xE0))
        STUB(exit_ping_storm, "mov $1000, %ecx\n1: movl $4, " EH_EXIT_AT(0xE0)
             "\ndec %ecx\njnz 1b")
        STUB(log_huge_len, "movl $0xFFFFFFFF, " EH_STR(ASM_WINDOW) "+" EH_STR(ASM_LOG_LEN) "\n"
             "movl $0, " EH_EXIT_AT(0xE4))
        /* resource abuse */
        STUB(stack_overflow, "call eh_hostile_stack_overflow")
        STUB(spin_no_pause, "1: jmp 1b")
        STUB(log_storm, "1: movl $0, " EH_EXIT_AT(0xE4) "\njmp 1b")
        ".popsection\n");
