/* The edgehost ABI v1 import table. wasm_config/abi.py is the source of
 * truth; tests/unit/test_abi_agreement.py checks this table against it. */
#include "wasmhost/imports.h"

#define ROW(n, p, r) {#n, p, r, eh_imp_##n}
const eh_import_def eh_imports[] = {
    ROW(abi_nop, "", ""),
    ROW(log, "iii", ""),
    ROW(time_monotonic_ns, "", "I"),
    ROW(time_wall_ns, "", "I"),
    ROW(random_fill, "ii", "i"),
    ROW(crc32c, "iii", "i"),
    ROW(config_get, "iiii", "i"),
    ROW(kv_get, "iiii", "i"),
    ROW(kv_put, "iiii", "i"),
    ROW(kv_delete, "ii", "i"),
    ROW(request_method, "ii", "i"),
    ROW(request_path, "ii", "i"),
    ROW(request_query, "ii", "i"),
    ROW(request_header, "iiii", "i"),
    ROW(request_headers, "ii", "i"),
    ROW(request_body, "iii", "i"),
    ROW(response_set_status, "i", "i"),
    ROW(response_set_header, "iiii", "i"),
    ROW(response_set_body, "ii", "i"),
    ROW(offload, "ii", "i"),
};
#undef ROW
const uint32_t eh_imports_count = sizeof eh_imports / sizeof eh_imports[0];
