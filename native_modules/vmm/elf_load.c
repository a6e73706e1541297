/*
 * Untrusted guest ELF loader. The image will later come from tenants, so
 * every field is checked before anything is copied:
 *  - ELF64, little-endian, x86-64, ET_EXEC, current version, sane header sizes;
 *  - program headers fully inside the file, at most EH_ELF_MAX_SEGS PT_LOAD;
 *  - each PT_LOAD: filesz <= memsz, file range inside the file, memory range
 *    inside [EH_GL_IMAGE_BASE, EH_GL_IMAGE_END) (overflow-safe arithmetic),
 *    readable, never writable+executable, and on pages no other segment
 *    touches (permissions are per page);
 *  - no PT_INTERP / PT_DYNAMIC / PT_TLS (static, TLS-free images only for
 *    now: a later Linux-program loader adds TLS and auxv, not a new format);
 *  - the entry point lies in an executable segment;
 *  - the writable span is at most EH_GL_WRITABLE_MAX;
 *  - a PT_NOTE holds the layout note naming this library's EH_GL_LAYOUT_ID
 *    (an image built from another eh_guest_layout.h is refused: it would
 *    read and write the call window at other offsets).
 * Sections are ignored: only what the loader maps (and the notes) matters.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include "vmm/vmm_internal.h"

#define PG_DOWN(x) ((x) & ~(EH_GL_PAGE - 1))
#define PG_UP(x) (((x) + EH_GL_PAGE - 1) & ~(EH_GL_PAGE - 1))

static int check_header(const Elf64_Ehdr *eh, size_t len, char *err, size_t errlen)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
        EH_ERR(err, errlen, "not an ELF file (bad magic)");
        return -1;
    }
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
        eh->e_ident[EI_VERSION] != EV_CURRENT) {
        EH_ERR(err, errlen, "not a little-endian ELF64 version-1 image");
        return -1;
    }
    if (eh->e_type != ET_EXEC || eh->e_machine != EM_X86_64 || eh->e_version != EV_CURRENT) {
        EH_ERR(err, errlen, "not a static x86-64 executable (type %u, machine %u)",
               eh->e_type, eh->e_machine);
        return -1;
    }
    if (eh->e_ehsize != sizeof(Elf64_Ehdr) || eh->e_phentsize != sizeof(Elf64_Phdr)) {
        EH_ERR(err, errlen, "bad header sizes (ehsize %u, phentsize %u)", eh->e_ehsize,
               eh->e_phentsize);
        return -1;
    }
    if (eh->e_phnum == 0 || eh->e_phnum > 16) {
        EH_ERR(err, errlen, "bad program header count %u (1..16)", eh->e_phnum);
        return -1;
    }
    if (eh->e_phoff < sizeof(Elf64_Ehdr) || eh->e_phoff > len ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff) {
        EH_ERR(err, errlen, "program headers outside the file (phoff %#llx)",
               (unsigned long long)eh->e_phoff);
        return -1;
    }
    return 0;
}

static int check_load(const Elf64_Phdr *ph, size_t len, int i, char *err, size_t errlen)
{
    uint64_t span = EH_GL_IMAGE_END - EH_GL_IMAGE_BASE;
    if (ph->p_filesz > ph->p_memsz || ph->p_memsz == 0 || ph->p_memsz > span) {
        EH_ERR(err, errlen, "segment %d: bad sizes (filesz %#llx, memsz %#llx)", i,
               (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
        return -1;
    }
    if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset) {
        EH_ERR(err, errlen, "segment %d: file range outside the file (truncated image?)", i);
        return -1;
    }
    if (ph->p_vaddr < EH_GL_IMAGE_BASE || ph->p_vaddr >= EH_GL_IMAGE_END ||
        ph->p_memsz > EH_GL_IMAGE_END - ph->p_vaddr) {
        EH_ERR(err, errlen, "segment %d: [%#llx, +%#llx) outside the image region [%#llx, %#llx)",
               i, (unsigned long long)ph->p_vaddr, (unsigned long long)ph->p_memsz,
               (unsigned long long)EH_GL_IMAGE_BASE, (unsigned long long)EH_GL_IMAGE_END);
        return -1;
    }
    if (!(ph->p_flags & PF_R) || ((ph->p_flags & PF_W) && (ph->p_flags & PF_X)) ||
        (ph->p_flags & ~(uint32_t)(PF_R | PF_W | PF_X))) {
        EH_ERR(err, errlen, "segment %d: flags %#x not allowed (need R, never W+X)", i,
               ph->p_flags);
        return -1;
    }
    if (ph->p_align > 1 && (ph->p_align & (ph->p_align - 1))) {
        EH_ERR(err, errlen, "segment %d: alignment %#llx not a power of two", i,
               (unsigned long long)ph->p_align);
        return -1;
    }
    return 0;
}

/* Finds the layout note among the PT_NOTE segments (every size checked
 * against what is left of the segment, every segment against the file) and
 * compares it with this library's EH_GL_LAYOUT_ID. */
static int check_layout_note(const uint8_t *img, size_t len, const Elf64_Ehdr *eh, char *err,
                             size_t errlen)
{
    int seen = 0;
    uint64_t id = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh->e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_NOTE)
            continue;
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
            EH_ERR(err, errlen, "segment %d: notes outside the file", i);
            return -1;
        }
        const uint8_t *p = img + ph.p_offset;
        /* gABI: name and descriptor start on the segment's alignment (4 or
         * 8 bytes), counted from the note's start, header included. */
        uint64_t left = ph.p_filesz, pad = ph.p_align == 8 ? 7 : 3;
        while (left >= 12) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, p, 4);
            memcpy(&descsz, p + 4, 4);
            memcpy(&type, p + 8, 4);
            uint64_t desc_at = (12 + (uint64_t)namesz + pad) & ~pad;
            if (desc_at > left || descsz > left - desc_at) {
                EH_ERR(err, errlen, "segment %d: a note runs past its segment", i);
                return -1;
            }
            if (type == EH_GL_NOTE_LAYOUT && namesz == sizeof EH_GL_NOTE_NAME &&
                memcmp(p + 12, EH_GL_NOTE_NAME, namesz) == 0) {
                if (descsz != sizeof id) {
                    EH_ERR(err, errlen, "layout note of %u bytes (8 expected)", descsz);
                    return -1;
                }
                memcpy(&id, p + desc_at, sizeof id);
                seen = 1;
            }
            uint64_t next = (desc_at + descsz + pad) & ~pad; /* the last may lack its padding */
            if (next >= left)
                break;
            p += next;
            left -= next;
        }
    }
    if (!seen) {
        EH_ERR(err, errlen, "no edgehost layout note: not a guest image built by this "
               "package (native_modules/guest/build_guest.py)");
        return -1;
    }
    if (id != (uint64_t)EH_GL_LAYOUT_ID) {
        EH_ERR(err, errlen, "built for call-window layout %016llx, this library's is %016llx: "
               "the image and the library come from different builds (rebuild the package)",
               (unsigned long long)id, (unsigned long long)EH_GL_LAYOUT_ID);
        return -1;
    }
    return 0;
}

int eh_elf_parse(const uint8_t *img, size_t len, eh_elf_info *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!img || len < sizeof(Elf64_Ehdr)) {
        EH_ERR(err, errlen, "image truncated (%zu bytes)", len);
        return EH_OFFLOAD_INVALID;
    }
    if (len > EH_ELF_MAX_FILE) {
        EH_ERR(err, errlen, "image too large (%zu bytes, max %u)", len, EH_ELF_MAX_FILE);
        return EH_OFFLOAD_INVALID;
    }
    Elf64_Ehdr eh;
    memcpy(&eh, img, sizeof eh); /* no alignment assumptions on img */
    if (check_header(&eh, len, err, errlen))
        return EH_OFFLOAD_INVALID;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
        switch (ph.p_type) {
        case PT_LOAD:
            if (ph.p_memsz == 0 && ph.p_filesz == 0)
                continue; /* an empty segment loads nothing */
            break;
        case PT_NULL: case PT_NOTE: case PT_PHDR: case PT_GNU_STACK:
        case PT_GNU_PROPERTY: case PT_GNU_EH_FRAME: case PT_GNU_RELRO:
            continue;
        case PT_INTERP: case PT_DYNAMIC:
            EH_ERR(err, errlen, "segment %d: dynamic linking is not supported", i);
            return EH_OFFLOAD_INVALID;
        case PT_TLS:
            EH_ERR(err, errlen, "segment %d: thread-local storage is not supported yet", i);
            return EH_OFFLOAD_INVALID;
        default:
            EH_ERR(err, errlen, "segment %d: unknown program header type %#x", i, ph.p_type);
            return EH_OFFLOAD_INVALID;
        }
        if (check_load(&ph, len, i, err, errlen))
            return EH_OFFLOAD_INVALID;
        if (out->nseg == EH_ELF_MAX_SEGS) {
            EH_ERR(err, errlen, "more than %d loadable segments", EH_ELF_MAX_SEGS);
            return EH_OFFLOAD_INVALID;
        }
        /* page-granular overlap with every earlier segment */
        uint64_t lo = PG_DOWN(ph.p_vaddr), hi = PG_UP(ph.p_vaddr + ph.p_memsz);
        for (int k = 0; k < out->nseg; k++) {
            const eh_elf_seg *s = &out->seg[k];
            uint64_t slo = PG_DOWN(s->vaddr), shi = PG_UP(s->vaddr + s->memsz);
            if (lo < shi && slo < hi) {
                EH_ERR(err, errlen, "segment %d overlaps segment %d (pages %#llx..%#llx)", i, k,
                       (unsigned long long)lo, (unsigned long long)hi);
                return EH_OFFLOAD_INVALID;
            }
        }
        eh_elf_seg *s = &out->seg[out->nseg++];
        *s = (eh_elf_seg){ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags};
        if (ph.p_flags & PF_W) {
            if (!out->wr_hi || lo < out->wr_lo)
                out->wr_lo = lo;
            if (hi > out->wr_hi)
                out->wr_hi = hi;
        }
    }
    if (out->nseg == 0) {
        EH_ERR(err, errlen, "no loadable segment");
        return EH_OFFLOAD_INVALID;
    }
    int entry_ok = 0;
    for (int k = 0; k < out->nseg; k++) {
        const eh_elf_seg *s = &out->seg[k];
        if ((s->flags & PF_X) && eh.e_entry >= s->vaddr && eh.e_entry - s->vaddr < s->filesz)
            entry_ok = 1;
    }
    if (!entry_ok) {
        EH_ERR(err, errlen, "entry point %#llx is not inside an executable segment",
               (unsigned long long)eh.e_entry);
        return EH_OFFLOAD_INVALID;
    }
    if (out->wr_hi - out->wr_lo > EH_GL_WRITABLE_MAX) {
        EH_ERR(err, errlen, "writable segments span %#llx bytes (max %#llx)",
               (unsigned long long)(out->wr_hi - out->wr_lo),
               (unsigned long long)EH_GL_WRITABLE_MAX);
        return EH_OFFLOAD_INVALID;
    }
    if (check_layout_note(img, len, &eh, err, errlen))
        return EH_OFFLOAD_INVALID;
    out->entry = eh.e_entry;
    return 0;
}

/* Copies the file bytes of every segment; the rest of each segment stays zero
 * (guest memory is a fresh anonymous mapping). Only call after eh_elf_parse. */
void eh_elf_copy(const uint8_t *img, const eh_elf_info *info, uint8_t *mem)
{
    for (int k = 0; k < info->nseg; k++) {
        const eh_elf_seg *s = &info->seg[k];
        memcpy(mem + s->vaddr, img + s->offset, s->filesz);
    }
}

eh_offload_status eh_vm_check_elf(const uint8_t *img, size_t len, char *err, size_t errlen)
{
    eh_elf_info info;
    return eh_elf_parse(img, len, &info, err, errlen);
}
