/*
 * Guest memory: the 2 MiB-aligned host mapping, and what the monitor writes
 * into it before the first instruction runs -- page tables, GDT/TSS, IDT,
 * ring-0 fault trampolines -- plus the guest image.
 *
 * Invariants (see include/eh_guest_layout.h for the map):
 *  - [0, 16 MiB) is mapped with 4 KiB pages so each page gets exactly the
 *    permission it needs; nothing there is both writable and executable.
 *  - Monitor pages are supervisor-only; page tables are not mapped at all.
 *  - Scratch [16 MiB, mem_len) is user RW NX with 2 MiB or 4 KiB pages.
 *  - Addresses at or above mem_len are not mapped (any access faults), but
 *    for the EH_GL_WINDOWS read-only windows from EH_GL_MAP_GPA (windows.c).
 *  - Page tables are never modified after the guest starts (the host could
 *    not make a running guest's shadow page tables see a change).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "vmm/vmm_internal.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)

#define PML4 (EH_GL_PT_BASE)
#define PDPT (EH_GL_PT_BASE + 0x1000)
#define PD (EH_GL_PT_BASE + 0x2000)
#define PT0 (EH_GL_PT_BASE + 0x3000) /* first page table; one per 2 MiB mapped with 4 KiB */

int eh_mem_map(eh_guest *g, uint64_t mem_len, int huge, char *err, size_t errlen)
{
    size_t len = mem_len + EH_GL_HUGE;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        EH_ERR(err, errlen, "mmap of %llu bytes of guest memory failed: %m",
               (unsigned long long)mem_len);
        return EH_OFFLOAD_SYSTEM;
    }
    g->map = p;
    g->map_len = len;
    g->mem = (uint8_t *)(((uintptr_t)p + EH_GL_HUGE - 1) & ~(uintptr_t)(EH_GL_HUGE - 1));
    g->mem_len = mem_len;
    /* The first 16 MiB hold small, scattered monitor/image/stack pages: 4 KiB
     * host pages there keep boot from zeroing a 2 MiB page for each of them.
     * Scratch gets transparent huge pages (THP is in "madvise" mode here). */
    madvise(g->mem, EH_GL_LOW_END, MADV_NOHUGEPAGE);
    madvise(g->mem + EH_GL_LOW_END, mem_len - EH_GL_LOW_END,
            huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    madvise(g->map, len, MADV_DONTFORK); /* a fork()ing host must not copy tenants' RAM */
    return 0;
}

void eh_mem_unmap(eh_guest *g)
{
    if (g->map)
        munmap(g->map, g->map_len);
    g->map = g->mem = NULL;
}

static uint64_t *u64(eh_guest *g, uint64_t gpa) { return (uint64_t *)(g->mem + gpa); }

static void map4k(eh_guest *g, uint64_t gva, uint64_t flags)
{
    uint64_t *pt = u64(g, PT0 + (gva >> 21) * EH_GL_PAGE);
    pt[(gva >> 12) & 511] = gva | flags;
}

static void map4k_range(eh_guest *g, uint64_t lo, uint64_t hi, uint64_t flags)
{
    for (uint64_t a = lo & ~(EH_GL_PAGE - 1); a < hi; a += EH_GL_PAGE)
        map4k(g, a, flags);
}

static int build_page_tables(eh_guest *g, const eh_elf_info *elf, int scratch_4k, char *err,
                             size_t errlen)
{
    uint64_t n2m = g->mem_len / EH_GL_HUGE;
    uint64_t npt = scratch_4k ? n2m : EH_GL_LOW_END / EH_GL_HUGE;
    if (PT0 + npt * EH_GL_PAGE > EH_GL_SYS_END) {
        EH_ERR(err, errlen, "%llu MiB is too much guest memory for 4 KiB pages",
               (unsigned long long)(g->mem_len >> 20));
        return EH_OFFLOAD_INVALID;
    }
    g->pt_end = PT0 + npt * EH_GL_PAGE;
    const uint64_t dir = PTE_P | PTE_W | PTE_U; /* leaves decide the permission */
    u64(g, PML4)[0] = PDPT | dir;
    u64(g, PDPT)[0] = PD | dir;
    for (uint64_t i = 0; i < n2m; i++) {
        if (i < npt)
            u64(g, PD)[i] = (PT0 + i * EH_GL_PAGE) | dir;
        else
            u64(g, PD)[i] = (i * EH_GL_HUGE) | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_NX;
    }
    /* monitor pages: supervisor only */
    map4k(g, EH_GL_GDT, PTE_P | PTE_W | PTE_NX);
    map4k(g, EH_GL_IDT, PTE_P | PTE_NX);
    map4k(g, EH_GL_TRAMP, PTE_P);
    /* the exit page: user-writable, backed by no memory slot -> MMIO exit */
    u64(g, PT0 + (EH_GL_EXIT_VA >> 21) * EH_GL_PAGE)[(EH_GL_EXIT_VA >> 12) & 511] =
        EH_GL_EXIT_GPA | PTE_P | PTE_W | PTE_U | PTE_NX;
    map4k_range(g, EH_GL_R0_STACK, EH_GL_R0_STACK_TOP, PTE_P | PTE_W | PTE_NX);
    /* ring-3 pages */
    map4k_range(g, EH_GL_WINDOW, EH_GL_WINDOW + EH_GL_WINDOW_SIZE, PTE_P | PTE_W | PTE_U | PTE_NX);
    for (int k = 0; k < elf->nseg; k++) {
        const eh_elf_seg *s = &elf->seg[k];
        uint64_t f = PTE_P | PTE_U;
        if (s->flags & 2 /* PF_W */)
            f |= PTE_W;
        if (!(s->flags & 1 /* PF_X */))
            f |= PTE_NX;
        map4k_range(g, s->vaddr, s->vaddr + s->memsz, f);
    }
    map4k_range(g, EH_GL_STACK_BASE, EH_GL_STACK_TOP, PTE_P | PTE_W | PTE_U | PTE_NX);
    if (scratch_4k)
        map4k_range(g, EH_GL_SCRATCH, g->mem_len, PTE_P | PTE_W | PTE_U | PTE_NX);
    /* the windows: one PD page per GiB of each, after the page tables (if
     * they fit below the monitor's end; else this guest has none and copies
     * every input) */
    uint64_t pds = EH_GL_WINDOWS * (EH_GL_MAP_MAX >> 30);
    if (g->pt_end + pds * EH_GL_PAGE <= EH_GL_SYS_END) {
        for (uint64_t k = 0; k < pds; k++) {
            uint64_t pd = g->pt_end + k * EH_GL_PAGE, gpa = EH_GL_MAP_GPA + (k << 30);
            u64(g, PDPT)[gpa >> 30] = pd | dir;
            for (uint64_t i = 0; i < 512; i++)
                u64(g, pd)[i] = (gpa + i * EH_GL_HUGE) | PTE_P | PTE_U | PTE_PS | PTE_NX;
        }
        g->pt_end += pds * EH_GL_PAGE;
        g->windows_ok = 1;
    }
    return 0;
}

/* GDT: null, kernel code/data, user data/code (DPL 3), 64-bit TSS. The TSS
 * lives in the GDT page at +0x100; its RSP0 is the ring-0 fault stack. */
#define TSS_GPA (EH_GL_GDT + 0x100)

static void build_gdt(eh_guest *g)
{
    uint64_t *gdt = u64(g, EH_GL_GDT);
    gdt[0] = 0;
    gdt[1] = 0x00209A0000000000ull; /* 0x08 kernel code, L       */
    gdt[2] = 0x0000920000000000ull; /* 0x10 kernel data          */
    gdt[3] = 0x0000F20000000000ull; /* 0x18 user data, DPL 3     */
    gdt[4] = 0x0020FA0000000000ull; /* 0x20 user code, DPL 3, L  */
    uint64_t base = TSS_GPA, limit = 0x67;
    gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             (((base >> 24) & 0xff) << 56);
    gdt[6] = base >> 32;
    uint8_t *tss = g->mem + TSS_GPA;
    memset(tss, 0, 0x68);
    uint64_t rsp0 = EH_GL_R0_STACK_TOP;
    memcpy(tss + 4, &rsp0, 8);
    uint16_t iomap = 0x68; /* no I/O bitmap: ring 3 may not use ports at all */
    memcpy(tss + 0x66, &iomap, 2);
}

/* Trampoline for vector v < 32 (16 bytes each; vectors >= 32 share one that
 * reports 0xff): [push $0 if the CPU pushes no error code] ; push $v ;
 * out %al, $EH_PORT_FAULT ; hlt ; jmp .-1. The monitor reads
 * [vector, error, rip, cs, rflags, rsp, ss] at the ring-0 RSP on that exit. */
static int has_error_code(int v)
{
    return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 ||
           v == 21 || v == 29 || v == 30;
}

static void emit_trampoline(uint8_t *c, int v, int push_zero)
{
    int n = 0;
    if (push_zero) {
        c[n++] = 0x6A; /* push imm8 0 */
        c[n++] = 0x00;
    }
    c[n++] = 0x68; /* push imm32 v */
    c[n++] = (uint8_t)v;
    c[n++] = 0;
    c[n++] = 0;
    c[n++] = 0;
    c[n++] = 0xE6; /* out %al, imm8 */
    c[n++] = EH_PORT_FAULT;
    c[n++] = 0xF4; /* hlt */
    c[n++] = 0xEB; /* jmp back to hlt */
    c[n++] = 0xFD;
}

static void build_idt(eh_guest *g)
{
    uint8_t *code = g->mem + EH_GL_TRAMP;
    uint8_t *idt = g->mem + EH_GL_IDT;
    for (int v = 0; v <= 32; v++)
        emit_trampoline(code + v * 16, v < 32 ? v : 0xff, v == 32 || !has_error_code(v));
    /* `syscall` lands here in ring 0 on the guest's own stack (syscall does
     * not switch stacks); the user RIP is in RCX. Today it reports a fault;
     * a Linux-program runtime will turn this into a syscall-emulation exit. */
    emit_trampoline(g->mem + EH_GL_SYSCALL, EH_GL_SYSCALL_VEC, 1);
    for (int v = 0; v < 256; v++) {
        uint64_t off = EH_GL_TRAMP + (uint64_t)(v < 32 ? v : 32) * 16;
        uint8_t *gate = idt + v * 16;
        memset(gate, 0, 16);
        gate[0] = off & 0xff;
        gate[1] = (off >> 8) & 0xff;
        gate[2] = EH_GL_SEL_KCODE;
        gate[5] = 0x8E; /* present, DPL 0, 64-bit interrupt gate */
        gate[6] = (off >> 16) & 0xff;
        gate[7] = (off >> 24) & 0xff;
        uint32_t hi = (uint32_t)(off >> 32);
        memcpy(gate + 8, &hi, 4);
    }
}

int eh_mem_layout(eh_guest *g, const eh_elf_info *elf, const uint8_t *img, int scratch_4k,
                  char *err, size_t errlen)
{
    int rc = build_page_tables(g, elf, scratch_4k, err, errlen);
    if (rc)
        return rc;
    build_gdt(g);
    build_idt(g);
    eh_elf_copy(img, elf, g->mem);
    g->win = (eh_call_window *)(g->mem + EH_GL_WINDOW);
    return 0;
}
