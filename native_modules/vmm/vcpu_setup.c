/*
 * Initial vCPU state: long mode entered directly in ring 3 (guest ring 0 is
 * emulated on PVM hosts; nothing of ours runs there except the fault
 * trampolines), IOPL 0 (PVM drops a guest IOPL 3 for ring 3, so the exits
 * are MMIO writes to the exit page, see eh_guest_layout.h), SSE/AVX/AVX-512 enabled, and a CPUID built from the host's
 * (KVM_GET_SUPPORTED_CPUID under-reports on nested PVM).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "vmm/vmm_internal.h"

static int kvm_fd_cached = -1;
static pthread_mutex_t kvm_lock = PTHREAD_MUTEX_INITIALIZER;

int eh_kvm_fd(char *err, size_t errlen)
{
    pthread_mutex_lock(&kvm_lock);
    if (kvm_fd_cached < 0) {
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            EH_ERR(err, errlen, "/dev/kvm: %m");
        } else if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
            EH_ERR(err, errlen, "/dev/kvm: unexpected KVM API version");
            close(fd);
        } else {
            kvm_fd_cached = fd;
        }
    }
    int fd = kvm_fd_cached;
    pthread_mutex_unlock(&kvm_lock);
    return fd;
}

static uint64_t host_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM, as far as the host enables. */
static uint64_t guest_xcr0(void) { return host_xcr0() & 0xe7; }

static void host_cpuid(struct kvm_cpuid_entry2 *e)
{
    unsigned a, b, c, d;
    __cpuid_count(e->function, e->index, a, b, c, d);
    e->eax = a;
    e->ebx = b;
    e->ecx = c;
    e->edx = d;
}

/* KVM's list of leaves, with the feature leaves replaced by what the host
 * CPU really runs in ring 3. Built once per process (kvm_lock). */
static struct kvm_cpuid2 *guest_cpuid;

static struct kvm_cpuid2 *build_cpuid(int kvm, char *err, size_t errlen)
{
    int n = 128;
    struct kvm_cpuid2 *c = NULL;
    for (;;) {
        c = calloc(1, sizeof *c + (n + 8) * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            return NULL;
        c->nent = n;
        if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
            break;
        free(c);
        if (errno != E2BIG || n > 4096) {
            EH_ERR(err, errlen, "KVM_GET_SUPPORTED_CPUID: %m");
            return NULL;
        }
        n *= 2;
    }
    int have_d[8] = {0};
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1: {
            uint32_t ebx_keep = e->ebx & 0xff000000u; /* APIC id stays KVM's */
            host_cpuid(e);
            e->ebx = (e->ebx & 0x00ffffffu) | ebx_keep;
            e->ecx |= 1u << 31; /* hypervisor present */
            break;
        }
        case 7:
        case 0x80000001:
            host_cpuid(e);
            break;
        case 0xD:
            host_cpuid(e);
            if (e->index == 0) {
                e->eax &= (uint32_t)guest_xcr0();
                e->edx = 0;
            }
            if (e->index < 8)
                have_d[e->index] = 1;
            break;
        default:
            break;
        }
    }
    for (unsigned k = 2; k < 8; k++) { /* leaves KVM left out for enabled state */
        if (have_d[k] || !(guest_xcr0() & (1u << k)))
            continue;
        struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
        memset(e, 0, sizeof *e);
        e->function = 0xD;
        e->index = k;
        e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        host_cpuid(e);
    }
    return c;
}

static int set_cpuid(eh_guest *g, int kvm, char *err, size_t errlen)
{
    pthread_mutex_lock(&kvm_lock);
    if (!guest_cpuid)
        guest_cpuid = build_cpuid(kvm, err, errlen);
    struct kvm_cpuid2 *c = guest_cpuid;
    pthread_mutex_unlock(&kvm_lock);
    if (!c)
        return EH_OFFLOAD_SYSTEM;
    if (ioctl(g->vcpu_fd, KVM_SET_CPUID2, c)) {
        EH_ERR(err, errlen, "KVM_SET_CPUID2: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    return 0;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, uint8_t dpl, int code)
{
    struct kvm_segment s = {0};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = sel;
    s.type = type;
    s.present = 1;
    s.dpl = dpl;
    s.s = 1;
    s.g = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    return s;
}

static int set_sregs(eh_guest *g, char *err, size_t errlen)
{
    struct kvm_sregs s;
    if (ioctl(g->vcpu_fd, KVM_GET_SREGS, &s)) {
        EH_ERR(err, errlen, "KVM_GET_SREGS: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    s.cs = seg(EH_GL_SEL_UCODE, 0xB, 3, 1);
    s.ds = s.es = s.fs = s.gs = s.ss = seg(EH_GL_SEL_UDATA, 0x3, 3, 0);
    memset(&s.tr, 0, sizeof s.tr);
    s.tr.base = EH_GL_GDT + 0x100;
    s.tr.limit = 0x67;
    s.tr.selector = EH_GL_SEL_TSS;
    s.tr.type = 0xB; /* busy 64-bit TSS */
    s.tr.present = 1;
    memset(&s.ldt, 0, sizeof s.ldt);
    s.ldt.type = 0x2;
    s.ldt.unusable = 1;
    s.gdt.base = EH_GL_GDT;
    s.gdt.limit = 7 * 8 - 1;
    s.idt.base = EH_GL_IDT;
    s.idt.limit = 256 * 16 - 1;
    s.cr0 = 0x80010033; /* PG | WP | NE | ET | MP | PE */
    s.cr3 = EH_GL_PT_BASE;
    s.cr4 = 0x20 | 0x200 | 0x400 | 0x40000; /* PAE | OSFXSR | OSXMMEXCPT | OSXSAVE */
    s.efer = 0x1 | 0x100 | 0x400 | 0x800;   /* SCE | LME | LMA | NXE */
    if (ioctl(g->vcpu_fd, KVM_SET_SREGS, &s)) {
        EH_ERR(err, errlen, "KVM_SET_SREGS (ring-3 long mode): %m");
        return EH_OFFLOAD_SYSTEM;
    }
    return 0;
}

/* `syscall` from ring 3 enters the monitor's trampoline with IF cleared. */
static int set_syscall_msrs(eh_guest *g, char *err, size_t errlen)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[3];
    } m;
    memset(&m, 0, sizeof m);
    m.hdr.nmsrs = 3;
    m.e[0].index = 0xC0000081; /* STAR: kernel CS 0x08 (SS 0x10); user base 0x10 */
    m.e[0].data = ((uint64_t)0x10 << 48) | ((uint64_t)EH_GL_SEL_KCODE << 32);
    m.e[1].index = 0xC0000082; /* LSTAR */
    m.e[1].data = EH_GL_SYSCALL;
    m.e[2].index = 0xC0000084; /* SFMASK: clear IF, TF, DF, AC */
    m.e[2].data = 0x40700;
    if (ioctl(g->vcpu_fd, KVM_SET_MSRS, &m) != 3) {
        EH_ERR(err, errlen, "KVM_SET_MSRS (syscall entry): %m");
        return EH_OFFLOAD_SYSTEM;
    }
    return 0;
}

int eh_vcpu_setup(eh_guest *g, uint64_t entry, char *err, size_t errlen)
{
    int kvm = eh_kvm_fd(err, errlen);
    if (kvm < 0)
        return EH_OFFLOAD_SYSTEM;
    g->vcpu_fd = ioctl(g->vm_fd, KVM_CREATE_VCPU, 0);
    if (g->vcpu_fd < 0) {
        EH_ERR(err, errlen, "KVM_CREATE_VCPU: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz <= 0) {
        EH_ERR(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    g->run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, g->vcpu_fd, 0);
    if (g->run == MAP_FAILED) {
        g->run = NULL;
        EH_ERR(err, errlen, "mmap kvm_run: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    g->run_size = sz;
    int rc = set_cpuid(g, kvm, err, errlen);
    if (!rc)
        rc = set_sregs(g, err, errlen);
    if (!rc)
        rc = set_syscall_msrs(g, err, errlen);
    if (rc)
        return rc;
    struct kvm_xcrs x = {0};
    x.nr_xcrs = 1;
    x.xcrs[0].xcr = 0;
    x.xcrs[0].value = guest_xcr0();
    if (ioctl(g->vcpu_fd, KVM_SET_XCRS, &x)) {
        EH_ERR(err, errlen, "KVM_SET_XCRS(%#llx): %m", (unsigned long long)x.xcrs[0].value);
        return EH_OFFLOAD_SYSTEM;
    }
    struct kvm_regs r = {0};
    r.rip = entry;
    r.rsp = EH_GL_STACK_TOP;
    r.rflags = 0x0002; /* IF 0, IOPL 0: ring 3 cannot touch ports or interrupts */
    if (ioctl(g->vcpu_fd, KVM_SET_REGS, &r)) {
        EH_ERR(err, errlen, "KVM_SET_REGS: %m");
        return EH_OFFLOAD_SYSTEM;
    }
    return 0;
}
