"""Every copy of the tenant ABI is generated from wasm_config/abi.py and current.

The generated files (host header, C SDK header, Rust sys.rs) are rendered in
memory and compared with the files on disk; a hand edit or a change to
abi.py without regenerating fails here. The compiled module's import table is
compared too, so a stale build is caught as well.
"""

from __future__ import annotations

import re
import shutil

import pytest

from edgehost.native import ffi, lib
from edgehost.wasm_config import abi, docs, gen
from tests.support import REPO

REGENERATE = "regenerate: python -m edgehost.wasm_config.gen"


@pytest.mark.parametrize("rel", sorted([*gen.OUTPUTS, *gen.SECTIONS]))
def test_generated_file_is_current(rel):
    assert (REPO / rel).read_text() == gen.render(REPO, rel), f"{rel} is stale; {REGENERATE}"


@pytest.mark.parametrize("rel", sorted(gen.OUTPUTS))
def test_generated_file_says_so(rel):
    first = (REPO / rel).read_text().splitlines()[0]
    assert "GENERATED" in first and "do not edit" in first


def test_a_stale_or_edited_copy_is_reported(tmp_path):
    (tmp_path / "wasm_config").mkdir()
    (tmp_path / "wasm_config" / "abi.py").write_text("")
    for rel in [*gen.OUTPUTS, *gen.SECTIONS]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    assert gen.stale(tmp_path) == []
    sys_rs = tmp_path / "sdk/rust/src/sys.rs"
    sys_rs.write_text(sys_rs.read_text().replace("ERR_QUOTA: i32 = -3", "ERR_QUOTA: i32 = -33"))
    assert gen.stale(tmp_path) == ["sdk/rust/src/sys.rs"]
    assert gen.main(["--check", str(tmp_path)]) == 1
    assert gen.write(tmp_path) == ["sdk/rust/src/sys.rs"]
    assert gen.main(["--check", str(tmp_path)]) == 0


def _generated_names() -> set[str]:
    names = {f"{g.c_prefix}{c.name}" for g in abi.GROUPS for c in g.items}
    return names | {s.c_host for s in abi.STRUCTS} | {s.c_sdk for s in abi.STRUCTS}


def test_no_hand_written_copy_of_a_generated_c_name():
    """Declared once: no other C file defines a constant or struct the generator owns."""
    names = _generated_names()
    generated = {REPO / rel for rel in gen.OUTPUTS}
    pattern = re.compile(r"#define\s+(EH_\w+)\b|^\s*(EH_\w+)\s*=|typedef\s+struct\s+(\w+)", re.M)
    offenders = []
    for path in [*REPO.glob("native_modules/**/*.[ch]"), *REPO.glob("sdk/c/*.h"),
                 *REPO.glob("examples/**/*.[ch]"), *REPO.glob("tests/**/*.[ch]")]:
        if path in generated:
            continue
        for m in pattern.finditer(path.read_text(errors="replace")):
            name = next(g for g in m.groups() if g)
            if name in names:
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert not offenders, offenders


def test_no_hand_written_copy_of_a_generated_rust_constant():
    consts = {f"{g.rust_prefix}{c.name}" for g in abi.GROUPS for c in g.items}
    offenders = []
    for path in [*REPO.glob("sdk/rust/src/*.rs"), *REPO.glob("examples/**/*.rs")]:
        if path == REPO / "sdk/rust/src/sys.rs":
            continue
        for m in re.finditer(r"const\s+(\w+)\s*:\s*\w+\s*=\s*(-?[0-9]\w*)", path.read_text()):
            if m.group(1) in consts:
                offenders.append(f"{path.relative_to(REPO)}: {m.group(1)}")
    assert not offenders, offenders


def test_compiled_import_table_matches_abi():
    """The built module's table (expanded from the generated X-macro) is current."""
    rows = {}
    for i in range(lib.eh_abi_import_count()):
        p, r = ffi.new("char **"), ffi.new("char **")
        name = ffi.string(lib.eh_abi_import(i, ffi.cast("const char **", p),
                                            ffi.cast("const char **", r))).decode()
        rows[name] = (ffi.string(p[0]).decode(), ffi.string(r[0]).decode())
    assert rows == {imp.name: (imp.params, imp.results) for imp in abi.IMPORTS}, \
        "the native module is older than abi.py: rebuild it"


def test_kernel_names_are_one_spelling():
    for name, kid in abi.KERNELS.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert abi.kernel_name(kid) == name
    assert abi.kernel_suggestion("json_validate") == "json-validate"
    assert abi.kernel_suggestion("JSON-VALIDATE") == "json-validate"
    assert abi.kernel_suggestion("json-validate") is None
    assert abi.kernel_suggestion("warp-drive") is None
    assert abi.kernel_name(999) == "kernel 999"


def test_offload_request_layout():
    req = abi.OFFLOAD_REQUEST
    assert req.size == 64 and abi.OFFLOAD_RESULT.size == 32
    data = req.pack(kernel=abi.Kernel.CRC32C, arg=(7,), **{"in": 4096, "in_len": 9})
    assert len(data) == 64
    assert req.unpack(data) == {"kernel": 1, "flags": 0, "arg": (7, 0, 0, 0), "in": 4096,
                                "in_len": 9, "in2": 0, "in2_len": 0, "out": 0, "out_cap": 0}
    with pytest.raises(TypeError):
        req.pack(kernal=1)


def test_required_exports_are_defined_by_the_sdks():
    lib_rs = (REPO / "sdk/rust/src/lib.rs").read_text()
    assert re.search(rf"#\[no_mangle\]\s*pub extern \"C\" fn {abi.ABI_MARKER}\(\)", lib_rs)
    assert re.search(rf"#\[no_mangle\]\s*pub extern \"C\" fn {abi.ALLOC_EXPORT}\(size: i32\)"
                     r" -> i32", lib_rs)
    handler = (REPO / "sdk/rust/src/handler.rs").read_text()
    assert re.search(r"pub extern \"C\" fn \$name\(ptr: i32, len: i32\) -> i32", handler)
    assert re.search(rf"pub extern \"C\" fn {abi.CONFIGURE_EXPORT}\(\) -> i32", handler)
    c = (REPO / "sdk/c/edgehost.h").read_text()
    for export in (abi.ABI_MARKER, abi.ALLOC_EXPORT, abi.CONFIGURE_EXPORT):
        assert f"EH_EXPORT({export})" in c


def test_sdk_readme_has_the_reference_markers():
    text = (REPO / "sdk/README.md").read_text()
    assert text.count(docs.BEGIN) == 1 and text.count(docs.END) == 1
