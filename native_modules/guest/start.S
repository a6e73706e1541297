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
