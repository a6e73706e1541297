"""The command line end to end: build a C tenant from source, call it, and
every bad input gives one clear line and a non-zero exit."""

import json
import shutil
import subprocess
import sys

import crc32c as crc32c_peer
import pytest

from tests.conftest import EXAMPLES


def edgehost(*args, input_bytes=None):
    return subprocess.run([sys.executable, "-m", "edgehost", *args], capture_output=True,
                          input=input_bytes, timeout=120)


def one_line_error(proc, needle):
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edgehost: error: ") and needle in lines[0], err


@pytest.fixture
def etag(tmp_path, c_toolchain):
    d = tmp_path / "etag-c"
    shutil.copytree(EXAMPLES / "etag-c", d, ignore=shutil.ignore_patterns("*.wasm"))
    return d


def test_build_then_call(etag, tmp_path):
    proc = edgehost("build", str(etag))
    assert proc.returncode == 0, proc.stderr
    assert (etag / "etag-c.wasm").exists()
    data = bytes(range(256)) * 100
    (tmp_path / "in.bin").write_bytes(data)
    proc = edgehost("call", str(etag), "etag", "--input", str(tmp_path / "in.bin"),
                    "--isolation", "inproc")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == f"{crc32c_peer.crc32c(data):08x}"
    proc = edgehost("call", str(etag), "etag", "--input", "-", "--isolation", "inproc",
                    input_bytes=b"123456789")
    assert proc.stdout == b"e3069283"
    assert "up to date" in edgehost("build", str(etag)).stdout.decode()


def test_call_passes_query_and_shows_status(built_examples):
    proc = edgehost("call", str(built_examples / "json-filter-c"), "extract", "--query",
                    "pointer=%2Fa%2F1", "--input", "-", "--isolation", "inproc",
                    "--show-status", input_bytes=b'{"a": [true, "two"]}')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b'"two"' and proc.stderr.decode().startswith("200 ")


def test_missing_tenant_directory(tmp_path):
    one_line_error(edgehost("call", str(tmp_path / "nope"), "etag"), "no such directory")


def test_missing_wasm(etag):
    one_line_error(edgehost("call", str(etag), "etag"), "module not built yet")


def test_corrupt_wasm(etag):
    (etag / "etag-c.wasm").write_bytes(b"\0asm\1\0\0\0garbage")
    one_line_error(edgehost("call", str(etag), "etag"), "not a valid WebAssembly module")


def test_missing_export(etag):
    edgehost("build", str(etag))
    one_line_error(edgehost("call", str(etag), "nope", "--isolation", "inproc"),
                   "has no handler export 'nope' (handlers: etag, verify)")


def test_missing_input_file(etag, tmp_path):
    edgehost("build", str(etag))
    one_line_error(edgehost("call", str(etag), "etag", "--input", str(tmp_path / "x")),
                   "No such file or directory")


def test_broken_manifest(etag):
    (etag / "edgehost.toml").write_text('name = "etag-c"\nkernels = ["warp-drive"]\n')
    one_line_error(edgehost("build", str(etag)), "kernels: unknown kernel 'warp-drive'")


def test_compile_error_shows_the_compiler_output_then_one_error_line(etag):
    (etag / "etag.c").write_text("static int unused;\nint broken( {\n")
    proc = edgehost("build", str(etag))
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    # the compiler's own output, naming the tenant's file (not a temporary one) ...
    assert any(ln.startswith("etag.c:2:") and "error" in ln for ln in lines), err
    assert "tmp" not in err
    # ... then exactly one error line of ours, naming the tenant
    ours = [ln for ln in lines if ln.startswith("edgehost: error: ")]
    assert len(ours) == 1 and ours[0] == lines[-1] and "build of etag-c failed" in ours[0], err


def test_doctor_json():
    proc = edgehost("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert isinstance(rep["kvm"], bool)
    assert isinstance(rep["cpu_features"], list)
    assert rep["cold_calls"].startswith(("run on the caller's thread", "wake the vCPU thread"))
    assert set(rep["toolchains"]) == {"c", "rust"}
    assert rep["wasmtime"].startswith("50.")


def test_demo_builds_and_runs_every_example(tmp_path, c_toolchain, rust_toolchain):
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # a clean demo work dir
    proc = subprocess.run([sys.executable, "-m", "edgehost", "demo"], capture_output=True,
                          timeout=300, env=env)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    for name in sorted(m.parent.name for m in EXAMPLES.glob("*/edgehost.toml")):
        assert f"== {name}:" in out, name  # example folders are named as their tenants
    for shown in ("verify(tampered body)     -> 412 mismatch",
                  'validate(trailing comma) -> 400 {"error":"trailing-comma","offset":12}',
                  "extract(/user/name) -> 200 \"ada\"", "query top-3 by cosine:",
                  "ingest(ragged row) -> 400", "hello('edge') -> 'hello, edge! (visit 1)'"):
        assert shown in out, shown
    assert "failed:" not in out and "skipped:" not in out


@pytest.mark.parametrize("cmd", [[], ["doctor"], ["build"], ["call"], ["demo"], ["kernel"],
                                 ["bench"], ["setup"]])
def test_help_everywhere(cmd):
    proc = edgehost(*cmd, "--help")
    assert proc.returncode == 0 and b"Usage:" in proc.stdout


@pytest.mark.parametrize("lang", ["c"])
def test_new_scaffold_builds_and_runs(tmp_path, lang, c_toolchain):
    proc = edgehost("new", "fresh-tenant", "--lang", lang, "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    d = tmp_path / "fresh-tenant"
    assert edgehost("build", str(d)).returncode == 0
    proc = edgehost("call", str(d), "hello", "--input", "-", "--isolation", "inproc",
                    input_bytes=b"you")
    assert proc.stdout == b"hello, you! (visit 1)"
    one_line_error(edgehost("new", "fresh-tenant", "--dir", str(tmp_path)), "already exists")
