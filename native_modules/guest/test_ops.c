/*
 * Test-only guest ops (EH_OP_TEST_*), linked into edgehost-guest-test.elf and
 * never into the production image. Each op misbehaves in one precise way so
 * tests/kvm can check that the monitor contains it.
 */
#include <stdint.h>
#include "eh_guest_layout.h"

static volatile uint64_t stash_bss;

/* Same call depth from STASH and PEEK -> same stack slot. */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized" /* PEEK reads stale stack on purpose */
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

static volatile uint64_t *stash_scratch(eh_call_window *w)
{
    return (volatile uint64_t *)(uintptr_t)(w->mem_end - EH_GL_PAGE);
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
    case EH_OP_TEST_STASH:
        stash_bss = a0;
        *stash_scratch(w) = a0;
        stack_slot(1, a0);
        return;
    case EH_OP_TEST_PEEK: /* bit 0: .bss, bit 1: scratch, bit 2: stack still hold data */
        w->res.value = (stash_bss != 0) | (*stash_scratch(w) != 0) << 1 |
                       (stack_slot(0, 0) != 0) << 2;
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
