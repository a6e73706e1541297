/* edgehost.config_get: values from the tenant's manifest, msgpack-encoded,
 * looked up by key in a table sorted at load time (read-only afterwards). */
#include <string.h>
#include "wasmhost/imports.h"

static int keycmp(const char *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    return c ? c : (alen > blen) - (alen < blen);
}

EH_IMPORT_DEF(config_get)
{
    eh_mem m = eh_caller_mem(caller);
    EH_RANGE_OR_TRAP("config_get", m, A(0), A(1), key);
    EH_RANGE_OR_TRAP("config_get", m, A(2), A(3), out);
    (void)out; /* written by eh_copy_out through m */
    const eh_tenant *t = m.inst->tenant;
    uint32_t lo = 0, hi = t->config_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = keycmp(t->config_keys[mid], t->config_key_lens[mid], key, (uint32_t)A(1));
        if (c == 0) {
            args[0].i32 = eh_copy_out(&m, (uint32_t)A(2), (uint32_t)A(3), t->config_vals[mid],
                                      t->config_val_lens[mid]);
            return NULL;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    args[0].i32 = EH_ERR_NOT_FOUND;
    return NULL;
}
