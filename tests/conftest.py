"""Fixtures and the one KVM gate. Helpers live in tests/support.py.

The KVM gate: every test in a ``kvm/`` folder (tests/kvm, tests/security/kvm,
tests/reliability/kvm, ...) and every test marked ``kvm`` (for example the
``kvm`` parameter of an isolation-parametrised test) is skipped LOUDLY -- a
warning plus the reason in the skip summary -- where /dev/kvm is not usable;
nothing else skips for KVM.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile
import warnings

import pytest

from edgehost.toolchain import compilers as toolchain
from edgehost.wasm_config import manifest as manifest_mod
from tests.support import EXAMPLES, kvm_skip_reason

_TESTS = pathlib.Path(__file__).resolve().parent

# Compiled modules are cached in this session's own directory, not the user's
# (servers the tests start inherit it).
if "EDGEHOST_MODULE_CACHE" not in os.environ:
    os.environ["EDGEHOST_MODULE_CACHE"] = tempfile.mkdtemp(prefix="edgehost-test-modules-")
    atexit.register(shutil.rmtree, os.environ["EDGEHOST_MODULE_CACHE"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = pathlib.Path(str(item.fspath)).resolve()
        if path.is_relative_to(_TESTS) and "kvm" in path.relative_to(_TESTS).parts[:-1]:
            item.add_marker(pytest.mark.kvm)


@pytest.fixture(autouse=True)
def _own_kv_store(tmp_path_factory, monkeypatch):
    """Tenant state never leaks between tests: tenants default to an empty
    in-process kv store (``memory``; no files, threads or descriptors for the
    resource tests to count), and anything that opens the embedded store
    without a --data gets this test's own data directory. Subprocesses
    inherit both. tests/state runs every backend explicitly."""
    monkeypatch.setenv("EDGEHOST_DATA", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("EDGEHOST_KV", "memory")


@pytest.fixture(autouse=True)
def _kvm_gate(request):
    if request.node.get_closest_marker("kvm") is None:
        return
    reason = kvm_skip_reason()
    if reason:
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)


@pytest.fixture
def make_guest():
    """Factory for vmm.Guest objects that are all closed after the test (the
    guest tests under tests/kvm, tests/security/kvm, tests/reliability/kvm)."""
    from edgehost.isolation import guest as vmm

    made = []

    def make(**config):
        g = vmm.Guest(**config)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


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
