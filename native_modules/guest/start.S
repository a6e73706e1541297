/* Guest entry, ring 3. The monitor sets RSP to EH_GL_STACK_TOP and RIP here;
 * the stack is re-aligned anyway so the C ABI (16-byte aligned at call) holds. */
    .section .text.start, "ax"
    .globl _start
_start:
    andq $-16, %rsp
    xorl %ebp, %ebp
    call eh_guest_main
1:  ud2                 /* eh_guest_main never returns; a return is a fault */
    jmp 1b
    .section .note.GNU-stack, "", @progbits

/* void eh_scrub_stack(uint64_t base)
 * Zeroes every non-zero byte of the stack in [base, rsp): everything below
 * the caller's frame is dead. Uses no stack of its own (only the return
 * address at [rsp]) so it never scrubs itself; writes only 64-byte lines
 * that are non-zero, so untouched stack pages stay clean in the monitor's
 * dirty log. base must be 64-byte aligned. Clobbers rax, rcx, rdx, rdi,
 * xmm0, xmm1 (all caller-saved). */
    .text
    .globl eh_scrub_stack
eh_scrub_stack:
    movq %rsp, %rcx
    andq $-64, %rcx           /* whole lines strictly below the return address */
    movq %rdi, %rax
    pxor %xmm1, %xmm1
1:  cmpq %rcx, %rax
    jae 3f
    movdqa (%rax), %xmm0
    por 16(%rax), %xmm0
    por 32(%rax), %xmm0
    por 48(%rax), %xmm0
    pcmpeqb %xmm1, %xmm0
    pmovmskb %xmm0, %edx
    cmpl $0xffff, %edx
    je 2f
    movdqa %xmm1, (%rax)
    movdqa %xmm1, 16(%rax)
    movdqa %xmm1, 32(%rax)
    movdqa %xmm1, 48(%rax)
2:  addq $64, %rax
    jmp 1b
3:  movq %rcx, %rdi           /* the partial line below the return address */
    movq %rsp, %rcx
    subq %rdi, %rcx
    xorl %eax, %eax
    rep stosb
    pxor %xmm0, %xmm0
    ret

/* void eh_scrub_stack_avx512(uint64_t base): eh_scrub_stack with one 64-byte
 * load and test per line. Same contract; clobbers rax, rcx, rdx, rdi, zmm0,
 * zmm1, k1 (callers clear vector state afterwards anyway). */
    .globl eh_scrub_stack_avx512
eh_scrub_stack_avx512:
    movq %rsp, %rcx
    andq $-64, %rcx
    movq %rdi, %rax
    vpxorq %zmm1, %zmm1, %zmm1
1:  cmpq %rcx, %rax
    jae 3f
    vmovdqa64 (%rax), %zmm0
    vptestmq %zmm0, %zmm0, %k1
    kortestw %k1, %k1
    jz 2f
    vmovdqa64 %zmm1, (%rax)
2:  addq $64, %rax
    jmp 1b
3:  movq %rcx, %rdi
    movq %rsp, %rcx
    subq %rdi, %rcx
    xorl %eax, %eax
    rep stosb
    vpxorq %zmm0, %zmm0, %zmm0
    kxorw %k1, %k1, %k1
    ret
