"""The Rust SDK end to end: warning-free builds (-D warnings), the required
exports in every tenant, msgpack round trips through the SDK's encoder and
decoder, request accessors, config, kv, crc32c three ways, scratch frames,
and how handler errors and rejections reach the caller."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import crc32c as crc32c_peer
import msgpack
import pytest
import wasmtime

from edgehost import paths
from edgehost.errors import TenantError
from edgehost.runtime.tenant import Tenant, load
from edgehost.toolchain import build
from edgehost.toolchain import compilers as toolchain
from edgehost.wasm_config import abi, validate
from edgehost.wasm_config import manifest as manifest_mod
from tests.support import EXAMPLES, REPO, built_tenant

pytestmark = pytest.mark.toolchain

TENANTS = REPO / "tests/integration/tenants_rust"


@pytest.fixture(scope="module")
def probe(rust_toolchain, tmp_path_factory) -> Tenant:
    with built_tenant(TENANTS / "probe", tmp_path_factory.mktemp("probe")) as t:
        yield t


def _crates() -> list[pathlib.Path]:
    roots = [TENANTS / "probe", TENANTS / "misuse"]
    roots += [m.parent for m in sorted(EXAMPLES.glob("*/edgehost.toml"))
              if manifest_mod.load(m).language == "rust"]
    return roots


def test_sdk_and_tenants_are_warning_free(rust_toolchain, tmp_path):
    strict = ["-D", "warnings", "-D", "missing_docs"]
    sdk = toolchain.compile_rust_lib(paths.sdk_dir() / "rust/src/lib.rs", tmp_path / "sdk",
                                     crate_name=build.RUST_SDK_CRATE, extra=strict)
    for crate in _crates():
        man = manifest_mod.load(crate)
        out = tmp_path / f"{man.name}.wasm"
        toolchain.compile_rust(man.sources[0], out, sdk, crate_name=man.name.replace("-", "_"),
                               extra=["-D", "warnings"])
        module = wasmtime.Module(wasmtime.Engine(), out.read_bytes())
        exports = {e.name for e in module.exports}
        assert {abi.ABI_MARKER, abi.ALLOC_EXPORT, abi.MEMORY_EXPORT} <= exports, man.name
        assert validate.check_module(module, where=man.name), man.name


VALUES = [
    None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1,
    2**64 - 1, -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63,
    0.5, -1e300, float("inf"), "", "a" * 31, "b" * 32, "c" * 255, "d" * 256, "é" * 40000,
    b"", b"\x00" * 255, b"\x01" * 256, b"\x02" * 70000, [], list(range(15)), list(range(16)),
    list(range(70000)), {}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
    {"nested": [{"a": [1, [2, [3, {"b": None}]]]}], "bin": b"\xff"},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_msgpack_round_trip_is_byte_exact(probe, value):
    packed = msgpack.packb(value, use_bin_type=True)
    assert probe.call("echo_msgpack", packed).body == packed


@pytest.mark.parametrize("bad", [b"", b"\xc1", b"\xd9\x05ab", b"\x92\x01", b"\xa2\xff\xfe",
                                 b"\x01\x02"])
def test_msgpack_decoder_rejects_malformed_input(probe, bad):
    r = probe.call("echo_msgpack", bad, check=False)
    assert r.http_status == 400 and r.body.startswith(b"malformed msgpack at byte ")


def test_request_accessors(probe):
    r = probe.call("request", method="PUT", path="/p/q", query="a=1&b=2",
                   headers={"X-Probe": "yes", "Accept": "*/*"})
    method, path, query, header, headers = msgpack.unpackb(r.body)
    assert (method, path, query, header) == (b"PUT", b"/p/q", b"a=1&b=2", b"yes")
    assert headers == {"x-probe": "yes", "accept": "*/*"}
    many = {f"h{i}": "v" * 50 for i in range(40)}  # > 256 bytes: scratch refetch
    assert msgpack.unpackb(probe.call("request", headers=many).body)[4] == many
    assert msgpack.unpackb(probe.call("request").body)[3] is None


def test_request_body_in_pieces(probe):
    body = bytes(range(256)) * 9 + b"tail"
    assert probe.call("body_pieces", body).body == body


def test_config_and_configure_hook(probe):
    greeting, answer, configured, short, missing = probe.call("config").body.decode().split("|")
    assert (greeting, answer, configured) == ("hi there", "42", "1")
    assert (short, missing) == ("true", "true")


@pytest.mark.parametrize("size", [0, 1, 300, 60000])
def test_kv_round_trip(probe, size):
    body = bytes(i % 251 for i in range(size))  # an empty value is a valid value
    assert probe.call("kv_roundtrip", body).body == f"{size}|true|true".encode()


def test_crc32c_import_and_kernel_agree(probe):
    body = b"123456789" * 1000 + b"x"
    want = f"{crc32c_peer.crc32c(body):08x}"
    assert probe.call("crc", body).body.decode().split("|") == [want] * 3


def test_nested_scratch_frames(probe):
    for _ in range(3):  # memory is reused across calls
        assert probe.call("scratch", b"outer data" * 100).body == f"true|{(3 << 20) + 8000}" \
            .encode()


def test_entropy_clock_and_log(probe, caplog):
    caplog.set_level("WARNING")
    a, b = probe.call("entropy").body, probe.call("entropy").body
    assert len(a) == len(b) == 32 and a != b
    assert any("entropy served" in rec.getMessage() for rec in caplog.records)


def test_handler_errors_and_rejections(probe, caplog):
    r = probe.call("fails", check=False)
    assert (r.status, r.http_status, r.body) == (abi.ERRORS["NOT_FOUND"], 404, b"not found")
    with pytest.raises(TenantError, match="not found"):
        probe.call("fails")
    assert any("fails failed: not found" in rec.getMessage() for rec in caplog.records)
    r = probe.call("rejects")
    assert (r.status, r.http_status, r.body) == (0, 422, b"no thanks")


JSON_DOC = (b'{ "a" : [1, -2, 3.5, {"b": "x\\n"}], "big": 18446744073709551615,\n'
            b' "n": null, "t": true, "e": 1e400 }')


def test_json_kernels_through_the_sdk(probe):
    want = b'{"a":[1,-2,3.5,{"b":"x\\n"}],"big":18446744073709551615,"n":null,"t":true,"e":1e400}'
    assert probe.call("json_minify", JSON_DOC).body == want  # bytes kept: 1e400 stays
    assert int(probe.call("json_validate", JSON_DOC).body) > 10
    big = json.dumps([{"k": i, "v": "x" * (i % 50)} for i in range(20000)]).encode()
    assert probe.call("json_minify", big).body == json.dumps(json.loads(big),
                                                             separators=(",", ":")).encode()
    cases = {"": ("Object", JSON_DOC, 0, None), "/a/1": ("Int64", b"-2", 12, -2),
             "/a/2": ("Double", b"3.5", 16, 3.5), "/a/3/b": ("String", b'"x\\n"', 27, None),
             "/big": ("Uint64", b"18446744073709551615", 43, 2**64 - 1),
             "/n": ("Null", b"null", 71, None), "/t": ("True", b"true", 82, None),
             "/e": ("Double", b"1e400", 93, float("inf"))}
    for ptr, want in cases.items():
        got = msgpack.unpackb(probe.call("json_pointer", ptr.encode() + b"\n" + JSON_DOC).body)
        assert tuple(got) == want, ptr
        assert JSON_DOC[got[2]:].startswith(got[1])
    r = probe.call("json_pointer", b"/zz\n" + JSON_DOC, check=False)
    assert (r.http_status, r.body) == (404, b"kernel error: not found (status -6, detail 0) at "
                                            b"byte 0")
    r = probe.call("json_validate", b"[1,2,]", check=False)
    assert (r.http_status, r.body) == (400, b"kernel error: malformed input (status -3, detail 9) "
                                            b"at byte 5")


def test_build_tracks_every_module_of_the_crate(rust_toolchain, tmp_path):
    d = tmp_path / "sim"
    shutil.copytree(EXAMPLES / "similarity-rust", d, ignore=shutil.ignore_patterns("*.wasm"))
    assert build.build(d)[1] is True
    assert build.build(d)[1] is False
    st = (d / "similarity-rust.wasm").stat()
    os.utime(d / "src/rank.rs", (st.st_atime + 5, st.st_mtime + 5))
    assert build.build(d)[1] is False   # touched, same content: the build stamp matches
    rank = d / "src/rank.rs"            # a module other than lib.rs changes
    rank.write_text(rank.read_text() + "\n// changed\n")
    os.utime(rank, (st.st_atime + 5, st.st_mtime + 5))
    assert build.build(d)[1] is True


def test_sdk_rlib_builds_into_an_empty_cache(rust_toolchain, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rlib = build.rust_sdk_rlib()
    assert rlib.is_relative_to(tmp_path) and rlib.stat().st_size > 0
    assert build.rust_sdk_rlib() == rlib  # cached: same key, no rebuild
    d = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello-rust", d, ignore=shutil.ignore_patterns("*.wasm"))
    assert build.build(d)[1] and load(d).call("hello", b"cache").body.startswith(b"hello, cache!")


def test_toolchain_reports_missing_rust_packages(monkeypatch):
    monkeypatch.setattr(toolchain.os.path, "exists", lambda p: False)
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    tc = toolchain.find_rust()
    assert not tc.ok and "apt-get install rustc libstd-rust-dev-wasm32" in tc.detail
