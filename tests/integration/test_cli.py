"""The command line end to end, as a user runs it: build a C tenant from
source, call it, and every failure is exactly one `edgehost: error:` line
and a non-zero exit."""

import json
import os
import pty
import shutil
import subprocess
import sys

import crc32c as crc32c_peer
import pytest
import wasmtime

from tests.support import ABI_PROLOGUE, EXAMPLES, assert_one_line_error, run_cli

edgehost = run_cli


@pytest.fixture
def etag(tmp_path, c_toolchain):
    d = tmp_path / "etag-c"
    shutil.copytree(EXAMPLES / "etag-c", d, ignore=shutil.ignore_patterns("*.wasm"))
    return d


def test_build_then_call(etag, tmp_path):
    proc = edgehost("build", etag)
    assert proc.returncode == 0, proc.stderr
    assert (etag / "etag-c.wasm").exists()
    data = bytes(range(256)) * 100
    (tmp_path / "in.bin").write_bytes(data)
    proc = edgehost("call", etag, "etag", "--input", tmp_path / "in.bin", "--isolation", "inproc")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == f"{crc32c_peer.crc32c(data):08x}"
    proc = edgehost("call", etag, "etag", "--input", "-", "--isolation", "inproc",
                    input_bytes=b"123456789")
    assert proc.stdout == b"e3069283"
    assert "up to date" in edgehost("build", etag).stdout.decode()


def test_call_include_prints_http_status_and_headers(built_examples):
    proc = edgehost("call", built_examples / "json-filter-c", "extract", "--query",
                    "pointer=%2Fa%2F1", "--input", "-", "--isolation", "inproc", "-i",
                    input_bytes=b'{"a": [true, "two"]}')
    assert proc.returncode == 0, proc.stderr
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "content-type: application/json" in lines[1:]
    assert all(": " in ln for ln in lines[1:])
    assert body == b'"two"'


def test_call_fails_like_curl_on_http_errors(built_examples):
    """A 4xx answer prints its body and ONE error line, and exits 22 (curl --fail)."""
    proc = edgehost("call", built_examples / "json-filter-c", "validate", "--input", "-",
                    "--isolation", "inproc", input_bytes=b"[1,2,]")
    assert proc.stdout == b'{"error":"trailing-comma","offset":5}'
    assert_one_line_error(proc, "'json-filter-c' validate answered HTTP 400 Bad Request",
                          code=22)


def test_trap_says_which_limit(built_examples, tmp_path):
    d = tmp_path / "spinner"
    d.mkdir()
    (d / "edgehost.toml").write_text('name = "spinner"\n[limits]\ndeadline_ms = 50\n')
    (d / "spinner.wasm").write_bytes(wasmtime.wat2wasm(
        f'(module (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) '
        f'(i32.const 0)) {ABI_PROLOGUE})'))
    line = assert_one_line_error(edgehost("call", d, "spin", "--isolation", "inproc"),
                                 "spin: deadline: deadline_ms=50 exceeded")
    assert "backtrace" not in line


def test_tenant_logs_shown_at_info_and_debug(built_examples):
    hello = built_examples / "hello-c"
    quiet = edgehost("call", hello, "hello", "--isolation", "inproc")
    assert quiet.returncode == 0 and quiet.stderr == b""
    for how in (["-v"], ["--log-level", "info"], ["--log-level=debug"]):
        loud = edgehost(*how, "call", hello, "hello", "--isolation", "inproc")
        assert b"[info] hello-c: hello handled a request" in loud.stderr, (how, loud.stderr)
    env = edgehost("call", hello, "hello", "--isolation", "inproc",
                   env={"EDGEHOST_LOG": "debug"})
    assert b"[info] hello-c: hello handled a request" in env.stderr
    assert_one_line_error(edgehost("--log-level", "loud", "doctor"), "--log-level", code=2)


def test_no_color_is_honoured():
    """On a terminal `doctor` colours yes/no; NO_COLOR turns that off."""

    def on_a_tty(env):
        leader, follower = pty.openpty()
        base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        proc = subprocess.Popen([sys.executable, "-m", "edgehost", "doctor"], stdout=follower,
                                stderr=subprocess.DEVNULL, env={**base, **env})
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=120)
        os.close(leader)
        return out

    assert b"\x1b[" in on_a_tty({})
    assert b"\x1b[" not in on_a_tty({"NO_COLOR": "1"})


def test_missing_tenant_directory(tmp_path):
    assert_one_line_error(edgehost("call", tmp_path / "nope", "etag"), "no such directory")


def test_missing_wasm(etag):
    assert_one_line_error(edgehost("call", etag, "etag"), "module not built yet")


def test_corrupt_wasm(etag):
    (etag / "etag-c.wasm").write_bytes(b"\0asm\1\0\0\0garbage")
    assert_one_line_error(edgehost("call", etag, "etag"), "not a valid WebAssembly module")


def test_missing_export(etag):
    edgehost("build", etag)
    assert_one_line_error(edgehost("call", etag, "nope", "--isolation", "inproc"),
                          "has no handler export 'nope' (handlers: etag, verify)")


def test_missing_input_file(etag, tmp_path):
    edgehost("build", etag)
    assert_one_line_error(edgehost("call", etag, "etag", "--input", tmp_path / "x"),
                          "No such file or directory")


def test_broken_manifest(etag):
    (etag / "edgehost.toml").write_text('name = "etag-c"\nkernels = ["warp-drive"]\n')
    assert_one_line_error(edgehost("build", etag), "kernels: unknown kernel 'warp-drive'")


def test_kernel_names_have_one_spelling(etag):
    (etag / "edgehost.toml").write_text('name = "etag-c"\nkernels = ["json_validate"]\n')
    assert_one_line_error(edgehost("build", etag),
                          "kernels: unknown kernel 'json_validate' (did you mean "
                          "'json-validate'?)")
    assert_one_line_error(edgehost("kernel", "json_validate", "x"), "No such command",
                          code=2)


@pytest.mark.parametrize("manifest, needle", [
    ('name = "t"\nkernels = [[1]]\n', "kernels: must be a list of kernel names"),
    ('name = "t"\n[config]\nwhen = 1979-05-27T07:32:00Z\n', "config.when: TOML dates"),
    ('name = "t"\n[config]\nbig = 99999999999999999999999\n', "config.big: integer"),
    ('name = "t"\n[config]\nx = ' + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ('name = "t"\nwasm = "/tmp/evil.wasm"\n', "wasm: '/tmp/evil.wasm' is outside"),
])
def test_hostile_manifests_are_one_line_at_load(tmp_path, manifest, needle):
    (tmp_path / "edgehost.toml").write_text(manifest)
    for cmd in (["build", tmp_path], ["call", tmp_path, "h"]):
        line = assert_one_line_error(edgehost(*cmd), needle)
        assert str(tmp_path / "edgehost.toml") in line


def test_manifest_that_is_a_directory(tmp_path):
    (tmp_path / "edgehost.toml").mkdir()
    assert_one_line_error(edgehost("build", tmp_path), "edgehost.toml: the manifest is a directory")


def test_build_never_writes_outside_the_tenant(tmp_path):
    victim = tmp_path / "victim"
    tenant = tmp_path / "tenant"
    tenant.mkdir()
    (tenant / "t.c").write_text("int x;\n")
    for wasm in (str(victim / "x.wasm"), "../victim/x.wasm", "../../x.wasm"):
        (tenant / "edgehost.toml").write_text(f'name = "t"\nsources = ["t.c"]\nwasm = "{wasm}"\n')
        assert_one_line_error(edgehost("build", tenant), "is outside the tenant's directory")
    (tenant / "out").symlink_to(victim, target_is_directory=True)
    (tenant / "edgehost.toml").write_text('name = "t"\nsources = ["t.c"]\nwasm = "out/x.wasm"\n')
    assert_one_line_error(edgehost("build", tenant), "is outside the tenant's directory")
    assert not victim.exists() and not (tmp_path / "x.wasm").exists()


def test_sources_outside_the_tenant_need_an_opt_in(tmp_path, c_toolchain):
    shared = tmp_path / "shared"
    shared.mkdir()
    shutil.copy(EXAMPLES / "hello-c" / "hello.c", shared / "hello.c")
    tenant = tmp_path / "tenant"
    tenant.mkdir()
    (tenant / "edgehost.toml").write_text('name = "t"\nsources = ["../shared/hello.c"]\n')
    assert_one_line_error(edgehost("build", tenant), "--allow-outside-sources")
    assert not (tenant / "t.wasm").exists()
    proc = edgehost("build", "--allow-outside-sources", tenant)
    assert proc.returncode == 0, proc.stderr
    assert (tenant / "t.wasm").exists()


def test_usage_errors_are_one_line(tmp_path):
    assert_one_line_error(edgehost("call"), "Missing argument", code=2)
    assert_one_line_error(edgehost("bogus"), "No such command 'bogus'", code=2)
    assert_one_line_error(edgehost("call", "--nope", tmp_path, "x"), "No such option", code=2)
    assert_one_line_error(edgehost("kernel", "crc32c", tmp_path / "missing"),
                          "No such file or directory", code=2)


def test_65_and_more_handlers_all_callable(tmp_path):
    funcs = "".join(f'(func (export "h{i}") (param i32 i32) (result i32) (i32.const {i}))'
                    for i in range(100))
    (tmp_path / "edgehost.toml").write_text('name = "many"\n')
    (tmp_path / "many.wasm").write_bytes(wasmtime.wat2wasm(f"(module {funcs} {ABI_PROLOGUE})"))
    from edgehost.runtime.tenant import load

    with load(tmp_path) as t:
        assert len(t.handlers) == 100
        assert [t.call(f"h{i}", check=False).status for i in range(100)] == list(range(100))
    proc = edgehost("call", tmp_path, "h99", "--isolation", "inproc")
    assert_one_line_error(proc, "returned status 99")


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
    assert rep["cold_calls"].startswith(("the caller's thread or the woken vCPU thread",
                                          "wake the vCPU thread"))
    assert set(rep["toolchains"]) == {"c", "rust"}
    assert rep["wasmtime"].startswith("50.")


def test_demo_builds_and_runs_every_example(tmp_path, c_toolchain, rust_toolchain):
    proc = edgehost("demo", env={"XDG_CACHE_HOME": str(tmp_path)})  # a clean demo work dir
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
                                 ["bench"], ["setup"], ["new"]])
def test_help_everywhere(cmd):
    proc = edgehost(*cmd, "--help")
    assert proc.returncode == 0 and b"Usage:" in proc.stdout


@pytest.mark.parametrize("lang", ["c"])
def test_new_scaffold_builds_and_runs(tmp_path, lang, c_toolchain):
    proc = edgehost("new", "fresh-tenant", "--lang", lang, "--dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = tmp_path / "fresh-tenant"
    assert edgehost("build", d).returncode == 0
    proc = edgehost("call", d, "hello", "--input", "-", "--isolation", "inproc",
                    input_bytes=b"you")
    assert proc.stdout == b"hello, you! (visit 1)"
    assert_one_line_error(edgehost("new", "fresh-tenant", "--dir", tmp_path), "already exists")
