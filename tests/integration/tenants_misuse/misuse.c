/* Test tenant that misuses the host API on purpose. Each handler must end in
 * a clear TenantTrap (bad pointers) or an error code (oversized requests),
 * and the host must keep serving afterwards. */
#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

/* A pointer far past the end of linear memory. */
#define WILD ((const void *)(uintptr_t)0xfffff000u)

EDGEHOST_HANDLER(wild_log)
{
    eh_log_raw(EH_LOG_INFO, WILD, 64);
    return 0;
}

EDGEHOST_HANDLER(wild_body)
{
    return eh_response_set_body(WILD, 0x2000);
}

EDGEHOST_HANDLER(wrapping_len)
{
    /* ptr + len overflows 32 bits: must not wrap into valid memory */
    return (int32_t)eh_crc32c(in, 0xffffffffu, 0);
}

EDGEHOST_HANDLER(oversized_kv)
{
    static uint8_t big[1 << 20];
    int32_t rc = eh_kv_put("k", 1, big, sizeof big); /* over kv_max_value */
    eh_respond(&rc, sizeof rc);
    return 0;
}

EDGEHOST_HANDLER(kv_get_into_wild)
{
    eh_kv_put("k", 1, "v", 1);
    return eh_kv_get("k", 1, (void *)WILD, 16);
}

EDGEHOST_HANDLER(ok)
{
    return eh_respond_str("still serving");
}
