"""Malformed artifacts: truncated or garbage .wasm, ABI mismatches and
imports outside the ABI, files that are not files, hostile manifests. Each is
refused at load with one typed error (and at the CLI, exactly one
``edgehost: error:`` line and a non-zero exit), before any tenant code runs."""

from __future__ import annotations

import os
import pathlib
import random
import resource
import subprocess
import sys
import time

import pytest
import wasmtime
from click.testing import CliRunner

from edgehost.cli.main import cli
from edgehost.errors import ConfigError, EdgehostError
from edgehost.runtime.tenant import load
from tests.support import ABI_PROLOGUE, import_decls, record

HANDLER = '(func (export "h") (param i32 i32) (result i32) (i32.const 0))'
GOOD = bytes(wasmtime.wat2wasm(f"(module {HANDLER} {ABI_PROLOGUE})"))


def run_cli(*args: str):
    """(exit code, stdout, stderr) of ``edgehost ARGS`` run in process; an
    exception that escaped the CLI (a traceback) fails the test."""
    res = CliRunner().invoke(cli, list(args), prog_name="edgehost")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"edgehost {' '.join(args)} raised "
                             f"{type(res.exception).__name__}: {res.exception}")
    return res.exit_code, res.stdout, res.stderr


def assert_one_error_line(*args: str, needle: str = "") -> str:
    code, _out, err = run_cli(*args)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("edgehost: error: "), err
    assert needle in lines[0], lines[0]
    return lines[0]


def tenant_dir(tmp_path: pathlib.Path, wasm: bytes | None, manifest: str | None = None,
               name: str = "art") -> pathlib.Path:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "edgehost.toml").write_text(manifest if manifest is not None else
                                     f'name = "{name}"\nisolation = "inproc"\n')
    if wasm is not None:
        (d / f"{name}.wasm").write_bytes(wasm)
    return d


def refused(d: pathlib.Path, needle: str) -> None:
    """Loading ``d`` fails with a ConfigError naming ``needle``; so does the CLI."""
    with pytest.raises(ConfigError) as ei:
        load(d)
    assert needle in str(ei.value) and "\n" not in str(ei.value), str(ei.value)
    assert_one_error_line("call", str(d), "h", needle=needle)


# -- bytes that are not a module ---------------------------------------------------------
_rng = random.Random(16)
GARBAGE = {
    "empty": b"",
    "magic-only": b"\0asm",
    "bad-version": b"\0asm\x02\0\0\0",
    "component": b"\0asm\x0d\0\x01\0",          # a component, not a core module
    "text": b"(module",                         # (wasmtime also reads WAT text)
    "elf": b"\x7fELF\x02\x01\x01" + bytes(57),
    "random": bytes(_rng.randrange(256) for _ in range(4096)),
    "trailing-garbage": GOOD + b"\xff\xff\xff",
    "huge-section-length": b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f",
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_wasm_is_refused(tmp_path, case):
    refused(tenant_dir(tmp_path, GARBAGE[case]), "not a valid WebAssembly module")


@pytest.mark.parametrize("cut", [9, 12, len(GOOD) // 2, len(GOOD) - 1])
def test_truncated_wasm_is_refused(tmp_path, cut):
    refused(tenant_dir(tmp_path, GOOD[:cut]), "not a valid WebAssembly module")


def test_every_flipped_byte_is_refused_or_loads(tmp_path):
    """Flip each byte of a small module in turn: every result either loads
    or is refused with a typed error (never a crash or another exception)."""
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(len(GOOD)):
        data = bytearray(GOOD)
        data[i] ^= 0xA5
        d = tenant_dir(tmp_path, bytes(data), name=f"flip{i}")
        try:
            t = load(d)
            t.close()
            outcomes["loaded"] += 1
        except EdgehostError as exc:
            assert "\n" not in str(exc), str(exc)
            outcomes["refused"] += 1
    record("inputs", what="a small module with each byte flipped in turn", count=len(GOOD),
           outcome=f"{outcomes['refused']} refused with one typed error, "
                   f"{outcomes['loaded']} still valid and loaded")
    assert outcomes["refused"] > len(GOOD) // 2, outcomes


# -- modules outside the ABI ---------------------------------------------------------------
def wat(body: str, prologue: bool = True) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {body} {ABI_PROLOGUE if prologue else ''})"))


ABI_CASES = {
    "wasi-import": ('(import "wasi_snapshot_preview1" "fd_write" '
                    '(func (param i32 i32 i32 i32) (result i32)))', "unknown import"),
    "env-memory-import": ('(import "env" "memory" (memory 1))', "unknown import"),
    "unknown-name": ('(import "edgehost" "exec" (func (param i32 i32)))', "not in ABI v1"),
    "empty-name": ('(import "edgehost" "" (func))', "not in ABI v1"),
    "case-mismatch": ('(import "EDGEHOST" "log" (func (param i32 i32 i32)))', "unknown import"),
    "wrong-params": ('(import "edgehost" "log" (func (param i32)))', "has type (i32)"),
    "i64-for-i32": ('(import "edgehost" "crc32c" (func (param i64 i64 i32) (result i32)))',
                    "has type"),
    "extra-result": ('(import "edgehost" "abi_nop" (func (result i32)))', "has type"),
    "missing-result": ('(import "edgehost" "kv_delete" (func (param i32 i32)))', "has type"),
    "as-global": ('(import "edgehost" "log" (global i32))', "must be a function"),
    "as-memory": ('(import "edgehost" "log" (memory 1))', "must be a function"),
    "as-table": ('(import "edgehost" "log" (table 1 funcref))', "must be a function"),
}


@pytest.mark.parametrize("case", list(ABI_CASES))
def test_imports_outside_the_abi_fail_at_load(tmp_path, case):
    body, needle = ABI_CASES[case]
    refused(tenant_dir(tmp_path, wat(body + HANDLER)), needle)


PRO_MEM = '(memory (export "memory") 2)'
PRO_MARK = '(func (export "edgehost_abi_v1"))'
PRO_ALLOC = '(func (export "edgehost_alloc") (param i32) (result i32) (i32.const 4096))'
EXPORT_CASES = {
    "no-marker": (PRO_MEM + PRO_ALLOC, "missing export edgehost_abi_v1"),
    "marker-v2": (PRO_MEM + PRO_ALLOC + '(func (export "edgehost_abi_v2"))',
                  "targets ABI v2"),
    "marker-v0-and-v1": (PRO_MEM + PRO_ALLOC + PRO_MARK + '(func (export "edgehost_abi_v0"))',
                         None),  # v1 present: loads
    "marker-typed": (PRO_MEM + PRO_ALLOC + '(func (export "edgehost_abi_v1") (result i32) '
                     '(i32.const 0))', "must have type ()"),
    "no-alloc": (PRO_MEM + PRO_MARK, "missing required export 'edgehost_alloc'"),
    "alloc-i64": (PRO_MEM + PRO_MARK + '(func (export "edgehost_alloc") (param i64) '
                  '(result i64) (i64.const 0))', "'edgehost_alloc' must have type"),
    "alloc-is-global": (PRO_MEM + PRO_MARK + '(global (export "edgehost_alloc") i32 '
                        '(i32.const 0))', "'edgehost_alloc' must have type"),
    "no-memory": (PRO_MARK + PRO_ALLOC + "(memory 1)", "missing required export 'memory'"),
    "memory-is-func": (PRO_MARK + PRO_ALLOC + '(memory 1) (func (export "memory"))',
                       "must be a memory"),
    "configure-typed": (PRO_MEM + PRO_MARK + PRO_ALLOC + '(func (export "edgehost_configure"))',
                        "'edgehost_configure' must have type"),
    "initialize-typed": (PRO_MEM + PRO_MARK + PRO_ALLOC + '(func (export "_initialize") '
                         '(param i32))', "'_initialize' must have type"),
    "two-memories": (PRO_MARK + PRO_ALLOC + '(memory 1) (memory (export "memory") 1)',
                     "a tenant module has one memory; this one has 2"),
    "shared-memory": (PRO_MARK + PRO_ALLOC + '(memory (export "memory") 1 1 shared)',
                      "not a valid WebAssembly module"),
}


@pytest.mark.parametrize("case", list(EXPORT_CASES))
def test_abi_mismatches_fail_at_load(tmp_path, case):
    body, needle = EXPORT_CASES[case]
    d = tenant_dir(tmp_path, wat(body + HANDLER, prologue=False))
    if needle is None:
        assert load(d).call("h").status == 0
    else:
        refused(d, needle)


def test_a_handler_with_the_wrong_signature_is_not_callable(tmp_path):
    d = tenant_dir(tmp_path, wat('(func (export "h2") (param i64) (result i32) (i32.const 0))'
                                 + HANDLER))
    assert load(d).handlers == ["h"]
    for export in ("h2", "edgehost_alloc", "edgehost_abi_v1", "memory", "nope"):
        assert_one_error_line("call", str(d), export, needle="has no handler export")


def test_imports_of_every_abi_name_with_the_right_type_load(tmp_path):
    # the positive control for the cases above: all 20 imports, correctly typed
    d = tenant_dir(tmp_path, wat(import_decls() + HANDLER))
    assert load(d).call("h").status == 0


# -- files that are not regular files -------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "dangling-link"])
def test_module_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    d = tenant_dir(tmp_path, None)
    target = d / "art.wasm"
    if kind == "fifo":
        os.mkfifo(target)  # reading it would block forever
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")  # reading it would never end
    elif kind == "directory":
        target.mkdir()
    else:
        target.symlink_to(d / "nowhere.wasm")
    with pytest.raises(ConfigError) as ei:
        load(d)
    assert "art.wasm" in str(ei.value)


def _cli_bounded(*args: str, fifo: pathlib.Path | None = None):
    """``edgehost ARGS`` in a child with 1 GiB of data and 60 s: a loader that
    blocks or reads forever fails the test instead of hanging or exhausting
    the machine. A reader blocked on ``fifo`` is fed a valid manifest (so a
    loader that reads FIFOs fails the assertions at once, not at the timeout)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, 1 << 30))

    proc = subprocess.Popen([sys.executable, "-m", "edgehost", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=limit)
    deadline = time.monotonic() + 60
    while fifo is not None and proc.poll() is None and time.monotonic() < deadline:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader (yet)
            time.sleep(0.05)
            continue
        os.write(fd, b'name = "t"\n')
        os.close(fd)
    try:
        _out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"edgehost {' '.join(args)} hung") from None
    return proc.returncode, err


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_manifest_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    d = tmp_path / "t"
    d.mkdir()
    if kind == "fifo":
        os.mkfifo(d / "edgehost.toml")
    else:
        (d / "edgehost.toml").symlink_to("/dev/zero")
    code, err = _cli_bounded("call", str(d), "h",
                             fifo=d / "edgehost.toml" if kind == "fifo" else None)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("edgehost: error: "), err
    assert "edgehost.toml" in lines[0] and "regular file" in lines[0], lines[0]


# -- hostile manifests (beyond issue 16 #6, which has its own regression tests) -------------
MANIFESTS = {
    "binary": ("\x00\x01\x02garbage\xff", "not valid TOML"),
    "not-utf8": (None, "not valid TOML"),
    "name-traversal": ('name = "../../etc"', "name"),
    "name-too-long": (f'name = "{"a" * 64}"', "name"),
    "name-uppercase": ('name = "Evil"', "name"),
    "unknown-field": ('name = "a"\nrun_as = "root"', "unknown field"),
    "route-not-slash": ('name = "a"\n[routes]\n"x" = "h"', "routes.x"),
    "route-to-alloc": ('name = "a"\n[routes]\n"/x" = "edgehost_alloc"', "not a handler"),
    "route-to-memory": ('name = "a"\n[routes]\n"/x" = "memory"', "not a handler"),
    "route-bad-export": ('name = "a"\n[routes]\n"/x" = "h; rm -rf /"', "routes./x"),
    "limit-negative": ('name = "a"\n[limits]\ndeadline_ms = -1', "limits.deadline_ms"),
    "limit-huge": ('name = "a"\n[limits]\nmemory_mb = 100000', "limits.memory_mb"),
    "limit-bool": ('name = "a"\n[limits]\nfuel = true', "limits.fuel"),
    "limit-float": ('name = "a"\n[limits]\ndeadline_ms = 1e9', "limits.deadline_ms"),
    "limit-unknown": ('name = "a"\n[limits]\ncpu = 100', "limits.cpu"),
    "limits-not-table": ('name = "a"\nlimits = 5', "limits"),
    "kernel-unknown": ('name = "a"\nkernels = ["rm"]', "kernels"),
    "isolation-none": ('name = "a"\nisolation = "none"', "isolation"),
    "instance-shared": ('name = "a"\ninstance = "shared"', "instance"),
    "sources-not-list": ('name = "a"\nsources = "a.c"', "sources"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_hostile_manifest_is_one_error_line(tmp_path, case):
    text, needle = MANIFESTS[case]
    d = tmp_path / "t"
    d.mkdir()
    if text is None:
        (d / "edgehost.toml").write_bytes(b'name = "\xff\xfe"\n')
    else:
        (d / "edgehost.toml").write_text(text)
    (d / "a.wasm").write_bytes(GOOD)
    line = assert_one_error_line("call", str(d), "h", needle=needle)
    assert "edgehost.toml" in line
