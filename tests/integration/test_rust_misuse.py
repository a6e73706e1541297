"""A Rust tenant that misuses the API (raw imports with wild pointers,
oversized writes, a kernel it may not use, panics) gets clear errors: traps
name the import and the range, refusals come back as SDK errors, panics are
logged before the trap, and the host keeps serving."""

from __future__ import annotations

import shutil

import pytest

from edgehost.errors import TenantTrap
from edgehost.runtime.tenant import Tenant, load
from edgehost.toolchain import build
from tests.support import REPO

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def misuse(tmp_path_factory, rust_toolchain) -> Tenant:
    d = tmp_path_factory.mktemp("misuse-rust") / "misuse"
    shutil.copytree(REPO / "tests/integration/tenants_rust/misuse", d)
    build.build(d)
    return load(d)


@pytest.mark.parametrize("export, needle", [
    ("wild_log", "edgehost.log: range [4294963200, +64) is outside linear memory"),
    ("wild_body", "edgehost.response_set_body: range [4294963200, +8192)"),
    ("wrapping_len", "edgehost.crc32c: range"),
    ("kv_get_into_wild", "edgehost.kv_get: range [4294963200, +16)"),
    ("offload_wild_out", "edgehost.offload(out): range [4294963200, +8192)"),
])
def test_bad_pointers_trap_clearly(misuse, export, needle):
    with pytest.raises(TenantTrap) as ei:
        misuse.call(export, b"some input")
    assert needle in str(ei.value) and ei.value.export == export
    assert misuse.call("ok").body == b"still serving"


def test_oversized_write_is_refused(misuse):
    assert misuse.call("oversized_kv").body == b"refused: invalid"
    assert misuse.kv_stats()[1] < 1024  # nothing of the 1 MiB value was stored


def test_kernel_not_in_manifest_is_denied(misuse):
    r = misuse.call("denied_kernel", b"\0" * 16, check=False)
    assert (r.status, r.http_status, r.body) == (-4, 403, b"denied by the manifest")


@pytest.mark.parametrize("export, logged", [
    ("panics", "deliberate panic with 3 input bytes"),
    ("index_oob", "index out of bounds: the len is 3 but the index is 8', misuse-rust/src/lib.rs:"),
])
def test_panics_are_logged_then_trap(misuse, caplog, export, logged):
    caplog.set_level("DEBUG")
    with pytest.raises(TenantTrap) as ei:
        misuse.call(export, b"abc")
    assert "unreachable" in str(ei.value)
    assert logged in ei.value.fatal and logged in str(ei.value)  # the panic, in the error
    assert any(logged in rec.getMessage() for rec in caplog.records), \
        [rec.getMessage() for rec in caplog.records]
    assert misuse.call("ok").body == b"still serving"


def test_memory_cap_is_an_error_not_a_trap(misuse):
    r = misuse.call("huge_scratch", check=False)
    assert (r.status, r.http_status, r.body) == (1, 500, b"out of linear memory")
    assert misuse.call("ok").body == b"still serving"
