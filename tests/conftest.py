"""Shared fixtures: tenants from WAT text, built examples, KVM/toolchain gates."""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest
import wasmtime

from edgehost.runtime.tenant import Tenant
from edgehost.toolchain import compilers as toolchain
from edgehost.wasm_config import manifest as manifest_mod

REPO = pathlib.Path(__file__).resolve().parent.parent

# Compiled modules are cached in this session's own directory, not the user's
# (servers the tests start inherit it).
if "EDGEHOST_MODULE_CACHE" not in os.environ:
    os.environ["EDGEHOST_MODULE_CACHE"] = tempfile.mkdtemp(prefix="edgehost-test-modules-")
    atexit.register(shutil.rmtree, os.environ["EDGEHOST_MODULE_CACHE"], ignore_errors=True)

EXAMPLES = REPO / "examples"

# The prologue every hand-written test tenant needs (ABI v1 required exports).
ABI_PROLOGUE = """
  (memory (export "memory") 2)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 4096))
"""


def wat_tenant(body: str, *, name: str = "wat-test", tmp: pathlib.Path | None = None,
               **manifest) -> Tenant:
    """A Tenant from a WAT module body (imports + handlers), inproc isolation by default."""
    wasm = wasmtime.wat2wasm(f"(module {body} {ABI_PROLOGUE})") if "edgehost_alloc" not in body \
        else wasmtime.wat2wasm(f"(module {body})")
    data = {"name": name, "isolation": "inproc", **manifest}
    base = tmp or pathlib.Path("/nonexistent-test-dir")
    man = manifest_mod.from_dict(data, base / "edgehost.toml")
    return Tenant(man, wasm=bytes(wasm))


@pytest.fixture(autouse=True)
def _own_kv_store(tmp_path_factory, monkeypatch):
    """Tenant state never leaks between tests: tenants default to an empty
    in-process kv store (``memory``; no files, threads or descriptors for the
    resource tests to count), and anything that opens the embedded store
    without a --data gets this test's own data directory. Subprocesses
    inherit both. tests/state runs every backend explicitly."""
    monkeypatch.setenv("EDGEHOST_DATA", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("EDGEHOST_KV", "memory")


def native_variants(family: str) -> list:
    """Every native ISA variant of a kernel family as pytest params, skipped
    where this CPU lacks it. The wasm32-only simd128 variant is left out: the
    wasm tests (test_*_wasm.py, test_dispatch_wasm.py) run it."""
    from edgehost.kernels._common import variants

    return [pytest.param(name, marks=pytest.mark.skipif(not ok, reason="CPU lacks it"))
            for name, ok in variants(family) if name != "simd128"]


@pytest.fixture(scope="session")
def c_toolchain():
    tc = toolchain.find_c()
    if not tc.ok:
        pytest.skip(f"C->wasm32 toolchain missing: {tc.detail}; run `edgehost setup`")
    return tc


@pytest.fixture(scope="session")
def rust_toolchain():
    tc = toolchain.find_rust()
    if not tc.ok:
        pytest.skip(f"RUST TOOLCHAIN MISSING -- Rust tenants NOT TESTED: {tc.detail}; "
                    "run `edgehost setup`")
    return tc


@pytest.fixture(scope="session")
def built_examples(tmp_path_factory, c_toolchain):
    """A copy of examples/ with every C tenant built from source."""
    from edgehost.toolchain import build

    dst = tmp_path_factory.mktemp("examples")
    for man in EXAMPLES.glob("*/edgehost.toml"):
        if manifest_mod.load(man).language != "c":
            continue
        shutil.copytree(man.parent, dst / man.parent.name,
                        ignore=shutil.ignore_patterns("*.wasm"))
        build.build(dst / man.parent.name)
    return dst
