/* CRC32C family: variant table and the kernel entry. */
#include "kernels/crc32c/crc32c.h"
#include "kernels/dispatch.h"

static eh_crc32c_fn active = eh_crc32c_byte;
static const char *active_name = "byte";

static int named(const char *force, const char *name)
{
    if (!force)
        return 0;
    while (*force && *force == *name) {
        force++;
        name++;
    }
    return *force == 0 && *name == 0;
}

void eh_crc32c_init(uint64_t cpu, const char *force)
{
    eh_crc32c_generic_init();
    active = eh_crc32c_byte;
    active_name = "byte";
    if (named(force, "byte"))
        return;
    if (cpu & EH_CPU_SSE42) {
        active = eh_crc32c_sse42;
        active_name = "sse42";
    }
}

const char *eh_crc32c_variant(void) { return active_name; }

uint32_t eh_crc32c(uint32_t seed, const uint8_t *p, uint64_t n) { return active(seed, p, n); }

void eh_crc32c_run(const eh_offload_req *req, eh_offload_res *res)
{
    res->value = active((uint32_t)req->arg[0], (const uint8_t *)(uintptr_t)req->in, req->in_len);
}
