/*
 * The guest image of a handle: read from disk once, at eh_vm_create, and
 * validated (elf_load.c) before any guest is booted from it. The file is
 * untrusted input: regular file, bounded size, fully read.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vmm/vmm_internal.h"

int eh_image_read(eh_vm *vm, char *err, size_t errlen)
{
    int fd = open(vm->image_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        EH_ERR(err, errlen, "guest image %s: %m", vm->image_path);
        if (fd >= 0)
            close(fd);
        return EH_OFFLOAD_INVALID;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > EH_ELF_MAX_FILE) {
        EH_ERR(err, errlen, "guest image %s: not a regular file of 1..%u bytes", vm->image_path,
               EH_ELF_MAX_FILE);
        close(fd);
        return EH_OFFLOAD_INVALID;
    }
    vm->image = malloc(st.st_size);
    size_t got = 0;
    while (vm->image && got < (size_t)st.st_size) {
        ssize_t n = read(fd, vm->image + got, st.st_size - got);
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    if (!vm->image || got != (size_t)st.st_size) {
        EH_ERR(err, errlen, "guest image %s: short read", vm->image_path);
        return EH_OFFLOAD_INVALID;
    }
    vm->image_len = got;
    return eh_elf_parse(vm->image, vm->image_len, &vm->elf, err, errlen);
}
