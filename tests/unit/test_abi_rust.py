"""The Rust SDK's raw bindings (sdk/rust/src/sys.rs) agree with wasm_config/abi.py:
every import with its parameter and result types, the error codes, log
levels, kernel ids and statuses, and the offload request/result layouts."""

import re

import pytest

from edgehost.wasm_config import abi
from tests.conftest import REPO

SYS_RS = REPO / "sdk/rust/src/sys.rs"
RUST_TYPES = {"i32": "i", "u32": "i", "i64": "I", "u64": "I"}


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def _type_code(ty: str) -> str:
    ty = ty.strip()
    if ty.startswith(("*const", "*mut")):
        return "i"  # pointers are i32 offsets on wasm32
    if ty not in RUST_TYPES:
        raise AssertionError(f"sys.rs uses {ty!r}, which has no ABI type")
    return RUST_TYPES[ty]


def parse_imports(text: str) -> dict[str, tuple[str, str]]:
    """name -> (params, results) of the fns in the `edgehost` extern block."""
    text = _strip_comments(text)
    block = re.search(r'#\[link\(wasm_import_module\s*=\s*"edgehost"\)\]\s*extern\s+"C"\s*\{'
                      r"(.*?)\n\}", text, re.S)
    assert block, 'no #[link(wasm_import_module = "edgehost")] extern block in sys.rs'
    body = block.group(1)
    assert "link_name" not in body, "sys.rs must name imports exactly as the ABI does"
    out = {}
    for m in re.finditer(r"pub\s+fn\s+(\w+)\s*\(([^)]*)\)\s*(?:->\s*([\w*]+))?\s*;", body):
        name, params, ret = m.groups()
        ps = "".join(_type_code(p.split(":", 1)[1]) for p in params.split(",") if p.strip())
        assert name not in out, f"import {name} declared twice"
        out[name] = (ps, _type_code(ret) if ret else "")
    assert body.count("fn ") == len(out), "an import declaration did not parse"
    return out


def parse_consts(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r"pub const (\w+): [iu]\d+ = (-?\d+);", _strip_comments(text))}


def parse_struct(text: str, name: str) -> list[tuple[str, str]]:
    m = re.search(rf"pub struct {name} \{{(.*?)\}}", _strip_comments(text), re.S)
    assert m, f"struct {name} not in sys.rs"
    fields = []
    for f in re.finditer(r"pub (?:r#)?(\w+): ([^,]+),", m.group(1)):
        fname, ty = f.groups()
        arr = re.fullmatch(r"\[(\w+); (\d+)\]", ty.strip())
        fields.append((fname, f"{arr.group(1)}[{arr.group(2)}]" if arr else ty.strip()))
    return fields


@pytest.fixture(scope="module")
def sys_rs() -> str:
    return SYS_RS.read_text()


def test_imports_match_abi(sys_rs):
    assert parse_imports(sys_rs) == {imp.name: (imp.params, imp.results) for imp in abi.IMPORTS}


def test_error_codes_log_levels_kernels_match_abi(sys_rs):
    consts = parse_consts(sys_rs)
    assert consts["ABI_VERSION"] == abi.ABI_VERSION
    assert {k[4:]: v for k, v in consts.items() if k.startswith("ERR_")} == abi.ERRORS
    assert {k[4:].lower(): v for k, v in consts.items() if k.startswith("LOG_")} \
        == abi.LOG_LEVELS
    assert {k[7:].lower(): v for k, v in consts.items() if k.startswith("KERNEL_")} \
        == abi.KERNELS
    assert {k[8:]: v for k, v in consts.items() if k.startswith("KSTATUS_")} \
        == abi.KERNEL_STATUS


def test_offload_layouts_match_abi(sys_rs):
    assert parse_struct(sys_rs, "OffloadRequest") == list(abi.OFFLOAD_REQUEST_FIELDS)
    assert parse_struct(sys_rs, "OffloadResult") == list(abi.OFFLOAD_RESULT_FIELDS)
    assert f"size_of::<OffloadRequest>() == {abi.OFFLOAD_REQUEST_SIZE}" in sys_rs
    assert f"size_of::<OffloadResult>() == {abi.OFFLOAD_RESULT_SIZE}" in sys_rs


def test_required_exports_are_defined_by_the_sdk():
    lib = (REPO / "sdk/rust/src/lib.rs").read_text()
    assert re.search(rf"#\[no_mangle\]\s*pub extern \"C\" fn {abi.ABI_MARKER}\(\)", lib)
    assert re.search(rf"#\[no_mangle\]\s*pub extern \"C\" fn {abi.ALLOC_EXPORT}\(size: i32\)"
                     r" -> i32", lib)
    handler = (REPO / "sdk/rust/src/handler.rs").read_text()
    assert re.search(r"pub extern \"C\" fn \$name\(ptr: i32, len: i32\) -> i32", handler)
    assert re.search(rf"pub extern \"C\" fn {abi.CONFIGURE_EXPORT}\(\) -> i32", handler)


@pytest.mark.parametrize("mutation", [
    ("pub fn kv_delete(key: *const u8, key_len: u32) -> i32;",
     "pub fn kv_delete(key: *const u8, key_len: u64) -> i32;"),
    ("pub fn abi_nop();", "pub fn abi_noop();"),
    ("pub fn time_wall_ns() -> i64;", "pub fn time_wall_ns() -> i32;"),
])
def test_parser_catches_a_disagreement(sys_rs, mutation):
    old, new = mutation
    assert old in sys_rs
    want = {imp.name: (imp.params, imp.results) for imp in abi.IMPORTS}
    assert parse_imports(sys_rs.replace(old, new)) != want


def test_consts_parser_catches_a_wrong_code(sys_rs):
    bad = sys_rs.replace("pub const ERR_QUOTA: i32 = -3;", "pub const ERR_QUOTA: i32 = -33;")
    assert {k[4:]: v for k, v in parse_consts(bad).items() if k.startswith("ERR_")} != abi.ERRORS
