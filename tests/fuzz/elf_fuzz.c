/* libFuzzer target for the guest ELF loader (native_modules/vmm/elf_load.c),
 * which treats images as untrusted. The input is the image, copied into an
 * allocation of exactly its size. Whatever eh_elf_parse accepts must satisfy
 * the loader's own promises (its header comment), and eh_elf_copy of an
 * accepted image must stay inside the image region of a guest memory of
 * exactly EH_GL_IMAGE_END bytes (ASan flags any byte outside). A rejection
 * must come with a reason. */
#define _GNU_SOURCE
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/vmm_internal.h"
#include "fuzz_check.h"

#define CHECK(cond, ...) FUZZ_CHECK_AS("elf ", cond, __VA_ARGS__)

#define PG_DOWN(x) ((x) & ~(EH_GL_PAGE - 1))
#define PG_UP(x) (((x) + EH_GL_PAGE - 1) & ~(EH_GL_PAGE - 1))

static void check_accepted(const uint8_t *img, size_t len, const eh_elf_info *info)
{
    CHECK(info->nseg >= 1 && info->nseg <= EH_ELF_MAX_SEGS, "nseg %d", info->nseg);
    int entry_ok = 0;
    for (int k = 0; k < info->nseg; k++) {
        const eh_elf_seg *s = &info->seg[k];
        CHECK(s->filesz <= s->memsz && s->memsz > 0, "segment %d sizes", k);
        CHECK(s->offset <= len && s->filesz <= len - s->offset, "segment %d file range", k);
        CHECK(s->vaddr >= EH_GL_IMAGE_BASE && s->vaddr < EH_GL_IMAGE_END &&
                  s->memsz <= EH_GL_IMAGE_END - s->vaddr,
              "segment %d [%#llx,+%#llx) outside the image region", k,
              (unsigned long long)s->vaddr, (unsigned long long)s->memsz);
        CHECK((s->flags & PF_R) && !((s->flags & PF_W) && (s->flags & PF_X)),
              "segment %d flags %#x", k, s->flags);
        for (int j = 0; j < k; j++) {
            const eh_elf_seg *o = &info->seg[j];
            CHECK(PG_UP(s->vaddr + s->memsz) <= PG_DOWN(o->vaddr) ||
                      PG_UP(o->vaddr + o->memsz) <= PG_DOWN(s->vaddr),
                  "segments %d and %d share a page", j, k);
        }
        if ((s->flags & PF_X) && info->entry >= s->vaddr && info->entry - s->vaddr < s->filesz)
            entry_ok = 1;
    }
    CHECK(entry_ok, "entry %#llx outside every executable segment",
          (unsigned long long)info->entry);
    CHECK(info->wr_hi >= info->wr_lo &&
              info->wr_hi - info->wr_lo <= EH_GL_WRITABLE_MAX,
          "writable span");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *guest; /* guest-physical [0, EH_GL_IMAGE_END): the copy's target */
    if (!guest)
        guest = calloc(1, EH_GL_IMAGE_END);
    uint8_t *img = malloc(size ? size : 1);
    memcpy(img, data, size);
    eh_elf_info info;
    char err[256];
    err[0] = 0;
    int rc = eh_elf_parse(img, size, &info, err, sizeof err);
    if (rc == 0) {
        check_accepted(img, size, &info);
        eh_elf_copy(img, &info, guest);
        /* each segment's file bytes landed at its address */
        for (int k = 0; k < info.nseg; k++)
            CHECK(!memcmp(guest + info.seg[k].vaddr, img + info.seg[k].offset,
                          info.seg[k].filesz), "segment %d copy", k);
    } else {
        CHECK(rc == EH_OFFLOAD_INVALID, "rc %d", rc);
        CHECK(err[0] && memchr(err, 0, sizeof err), "a rejection without a reason");
    }
    free(img);
    return 0;
}
