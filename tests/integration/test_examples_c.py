"""Every C example builds from source and does its job; the SDK header
compiles warning-free for wasm32-wasi and freestanding wasm32."""

import subprocess

import crc32c as crc32c_peer
import pytest
import wasmtime

from host import toolchain
from host.tenant import load
from tests.conftest import REPO
from wasm_config import validate


def test_etag(built_examples):
    t = load(built_examples / "etag-c")
    body = b"some body" * 1000
    r = t.call("etag", body)
    want = f"{crc32c_peer.crc32c(body):08x}"
    assert r.body.decode() == want and dict(r.headers)["etag"] == f'"{want}"'
    r = t.call("verify", body, headers={"If-Match": f'"{want}"'})
    assert (r.http_status, r.body) == (200, b"match")
    r = t.call("verify", body + b"!", headers={"If-Match": f'"{want}"'})
    assert (r.http_status, r.body) == (412, b"mismatch")
    assert t.call("verify", body).http_status == 428


def test_hello_counts_visits_and_reads_config(built_examples, caplog):
    caplog.set_level("INFO")
    t = load(built_examples / "hello-c")
    assert t.call("hello", b"edge").body == b"hello, edge! (visit 1)"
    assert t.call("hello").body == b"hello, world! (visit 2)"
    assert any("hello handled a request" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("target, flags", [
    ("wasm32-wasi", ["-mexec-model=reactor"]),
    ("wasm32", ["-nostdlib", "-ffreestanding", "-Wl,--no-entry"]),
])
def test_sdk_header_is_warning_free(tmp_path, c_toolchain, target, flags):
    out = tmp_path / "t.wasm"
    src = REPO / "tests/integration/tenants/msgpack_echo.c"
    proc = subprocess.run([c_toolchain.compiler, f"--target={target}", *flags, "-O2", "-Wall",
                           "-Wextra", "-Werror", f"-I{REPO / 'sdk/c'}", str(src), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    module = wasmtime.Module(wasmtime.Engine(), out.read_bytes())
    assert validate.check_module(module) == ["echo"]


def test_toolchain_reports_missing_packages(monkeypatch):
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    monkeypatch.setattr(toolchain.glob, "glob", lambda pattern: [])
    tc = toolchain.find_c()
    assert not tc.ok and "apt-get install clang" in tc.detail
