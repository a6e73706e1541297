"""The C import table, the C SDK header and wasm_config/abi.py must agree."""

import re

from edgehost.native import ffi, lib
from edgehost.wasm_config import abi
from tests.conftest import REPO

C_TYPES = {"int32_t": "i", "uint32_t": "i", "int64_t": "I", "uint64_t": "I"}


def test_registry_matches_abi():
    rows = {}
    for i in range(lib.eh_abi_import_count()):
        p, r = ffi.new("char **"), ffi.new("char **")
        name = ffi.string(lib.eh_abi_import(i, ffi.cast("const char **", p),
                                            ffi.cast("const char **", r))).decode()
        rows[name] = (ffi.string(p[0]).decode(), ffi.string(r[0]).decode())
    assert rows == {imp.name: (imp.params, imp.results) for imp in abi.IMPORTS}


def _header_imports():
    text = (REPO / "sdk/c/edgehost.h").read_text()
    out = {}
    for m in re.finditer(r"EH_IMPORT\((\w+)\)\s+([\w ]+?)\s+\*?(\w+)\(([^)]*)\);", text):
        name, ret, _cname, params = m.groups()
        ps = "" if params.strip() == "void" else "".join(
            "i" if "*" in p else C_TYPES[p.replace("const", "").split()[0]]
            for p in params.split(","))
        out[name] = (ps, "" if ret.strip() == "void" else C_TYPES[ret.strip()])
    return out, text


def test_c_header_matches_abi():
    imports, text = _header_imports()
    assert imports == {imp.name: (imp.params, imp.results) for imp in abi.IMPORTS}
    for name, code in abi.ERRORS.items():
        assert re.search(rf"#define EH_ERR_{name} \({code}\)", text), name
    for name, kid in abi.KERNELS.items():
        assert re.search(rf"#define EH_KERNEL_{name.upper()} {kid}\b", text), name
    for name, code in abi.KERNEL_STATUS.items():
        assert re.search(rf"#define EH_K_{name} \({code}\)", text), name
    for name, level in abi.LOG_LEVELS.items():
        assert re.search(rf"#define EH_LOG_{name.upper()} {level}\b", text), name
    assert f"EDGEHOST_ABI_VERSION {abi.ABI_VERSION}" in text


def test_offload_header_kernel_ids_match_abi():
    text = (REPO / "native_modules/include/eh_offload.h").read_text()
    for name, kid in abi.KERNELS.items():
        assert re.search(rf"EH_KERNEL_{name.upper()} = {kid},", text), name
    for name, code in abi.KERNEL_STATUS.items():
        assert re.search(rf"EH_K_{name} = {code},", text), name


def test_sdk_readme_reference_is_current():
    from edgehost.wasm_config import docs

    text = (REPO / "sdk/README.md").read_text()
    assert docs.BEGIN in text and docs.END in text
    assert docs.embed(text) == text, "regenerate: python -m wasm_config.docs (see sdk/README.md)"


def test_json_codes_agree_between_kernel_header_sdk_and_abi():
    kernel = (REPO / "native_modules/kernels/json/json.h").read_text()
    sdk = (REPO / "sdk/c/edgehost.h").read_text()
    for prefix, table in (("E", abi.JSON_ERRORS), ("T", abi.JSON_TYPES)):
        in_kernel = {n: int(v) for n, v in re.findall(rf"EH_JSON_{prefix}_(\w+) = (\d+),", kernel)}
        in_sdk = {n: int(v) for n, v in re.findall(rf"#define EH_JSON_{prefix}_(\w+) (\d+)", sdk)}
        assert in_sdk == in_kernel
        assert sorted(in_kernel.values()) == sorted(table)
