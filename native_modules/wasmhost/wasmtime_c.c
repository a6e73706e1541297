/* Binds EH_WT to the wasmtime library wasmtime-py has already loaded. */
#include <dlfcn.h>
#include <stdio.h>
#include "wasmhost/wasmtime_c.h"

eh_wasmtime_api EH_WT;
static int bound;

int eh_wasmtime_bind(const char *path, char *err, size_t errlen)
{
    if (bound)
        return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "dlopen %s: %s", path, dlerror());
        return -1;
    }
#define EH_WT_RESOLVE(ret, name, params)                                     \
    *(void **)(&EH_WT.name) = dlsym(h, #name);                               \
    if (!EH_WT.name) {                                                       \
        snprintf(err, errlen, "wasmtime library lacks symbol %s", #name);    \
        return -1;                                                           \
    }
    EH_WASMTIME_FUNCTIONS(EH_WT_RESOLVE)
#undef EH_WT_RESOLVE
    bound = 1;
    return 0;
}
