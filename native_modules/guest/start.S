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

/* The two scrubs share these, with %rax the 64-byte aligned line and %xmm1
 * all zero. LINE_ZERO_MASK: mask := 0xffff exactly when the line is all
 * zero (clobbers xmm0, flags). ZERO_LINE: stores zero over the line. */
.macro LINE_ZERO_MASK mask
    movdqa (%rax), %xmm0
    por 16(%rax), %xmm0
    por 32(%rax), %xmm0
    por 48(%rax), %xmm0
    pcmpeqb %xmm1, %xmm0
    pmovmskb %xmm0, \mask
.endm
.macro ZERO_LINE
    movdqa %xmm1, (%rax)
    movdqa %xmm1, 16(%rax)
    movdqa %xmm1, 32(%rax)
    movdqa %xmm1, 48(%rax)
.endm

/* void eh_scrub_stack(uint64_t base)
 * Zeroes every non-zero byte of the stack in [base, rsp): everything below
 * the caller's frame is dead. Used once, before the post-init snapshot, so
 * the dead stack starts all zero. Uses no stack of its own (only the return
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
    LINE_ZERO_MASK %edx
    cmpl $0xffff, %edx
    je 2f
    ZERO_LINE
2:  addq $64, %rax
    jmp 1b
3:
.Lzero_partial_line:          /* zeroes [rcx, rsp), the partial line below the return address */
    movq %rcx, %rdi
    movq %rsp, %rcx
    subq %rdi, %rcx
    xorl %eax, %eax
    rep stosb
    pxor %xmm0, %xmm0         /* leaves no stack data in a vector register */
    ret

/* void eh_scrub_stack_touched(uint64_t base, uint64_t gap)
 * The warm path's stack scrub: zeroes what the call that just ended left
 * below the caller's frame, at a cost that follows how deep that call went,
 * not the stack's size. From the line below the return address downward,
 * each non-zero 64-byte line is zeroed; the scan stops at base, or after
 * `gap` bytes of all-zero lines in a row. Why that is complete: the dead
 * stack is all zero before the call (eh_scrub_stack at init, this function
 * after every call, the host's reset), and the call's own writes leave no
 * all-zero run of `gap` bytes above its deepest non-zero byte -- every
 * frame holds a non-zero return address, a function writes only within its
 * frame and the 128-byte red zone below it, and `gap` exceeds the largest
 * frame any function of the image has, plus the red zone and alignment
 * (build_guest.py measures it with -fstack-usage and refuses a function
 * whose stack use is unbounded). Same register contract as eh_scrub_stack,
 * plus rsi and r8. */
    .globl eh_scrub_stack_touched
eh_scrub_stack_touched:
    movq %rsp, %rcx
    andq $-64, %rcx           /* [rcx, rsp): partial line below the return address */
    leaq -64(%rcx), %rax      /* the first whole line below it */
    xorl %edx, %edx           /* bytes of all-zero lines seen in a row */
    pxor %xmm1, %xmm1
1:  cmpq %rdi, %rax
    jb .Lzero_partial_line    /* past base */
    cmpq %rsi, %rdx
    jae .Lzero_partial_line   /* a run of `gap` zero bytes: the call went no deeper */
    addq $64, %rdx
    LINE_ZERO_MASK %r8d
    cmpl $0xffff, %r8d
    je 2f
    ZERO_LINE
    xorl %edx, %edx
2:  subq $64, %rax
    jmp 1b
