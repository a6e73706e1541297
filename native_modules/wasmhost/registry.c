/* The edgehost import table: one row per import of EH_ABI_IMPORTS, which is
 * generated from wasm_config/abi.py; an import without a callback
 * (imports.h declares eh_imp_<name> for each) fails to link. */
#include "wasmhost/imports.h"

#define ROW(n, p, r) {#n, p, r, eh_imp_##n},
const eh_import_def eh_imports[] = {EH_ABI_IMPORTS(ROW)};
#undef ROW
const uint32_t eh_imports_count = sizeof eh_imports / sizeof eh_imports[0];
