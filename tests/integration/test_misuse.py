"""Tenants that misuse the API -- in C and in Rust -- get clear errors: traps
name the import and the range, refusals come back as codes or SDK errors,
Rust panics are logged before the trap, and the host keeps serving."""

from __future__ import annotations

import struct

import pytest

from edgehost.errors import TenantTrap
from tests.support import REPO, built_tenant

SOURCES = {"c": REPO / "tests/integration/tenants_misuse",
           "rust": REPO / "tests/integration/tenants_rust/misuse"}


@pytest.fixture(scope="module", params=["c", pytest.param("rust", marks=pytest.mark.toolchain)])
def misuse(request, tmp_path_factory):
    request.getfixturevalue("c_toolchain" if request.param == "c" else "rust_toolchain")
    with built_tenant(SOURCES[request.param], tmp_path_factory.mktemp("misuse")) as t:
        t.lang = request.param
        yield t


# The Rust SDK's own behaviour: only the Rust tenant.
rust_only = pytest.mark.parametrize(
    "misuse", [pytest.param("rust", marks=pytest.mark.toolchain)], indirect=True)


@pytest.mark.parametrize("export, needle", [
    ("wild_log", "edgehost.log: range [4294963200, +64) is outside linear memory"),
    ("wild_body", "edgehost.response_set_body: range [4294963200, +8192)"),
    ("wrapping_len", "edgehost.crc32c: range"),
    ("kv_get_into_wild", "edgehost.kv_get: range [4294963200, +16)"),
])
def test_bad_pointers_trap_clearly(misuse, export, needle):
    with pytest.raises(TenantTrap) as ei:
        misuse.call(export, b"some input")
    assert needle in str(ei.value) and ei.value.export == export
    assert misuse.call("ok").body == b"still serving"


def test_oversized_write_is_refused(misuse):
    body = misuse.call("oversized_kv").body
    want = b"refused: invalid" if misuse.lang == "rust" else struct.pack("<i", -2)
    assert body == want  # EH_ERR_INVALID: over kv_max_value
    assert misuse.kv_stats()[1] < 1024  # nothing of the 1 MiB value was stored


@rust_only
def test_wild_offload_output_traps(misuse):
    with pytest.raises(TenantTrap, match=r"edgehost.offload\(out\): range \[4294963200, \+8192\)"):
        misuse.call("offload_wild_out", b"some input")
    assert misuse.call("ok").body == b"still serving"


@rust_only
def test_kernel_not_in_manifest_is_denied(misuse):
    r = misuse.call("denied_kernel", b"\0" * 16, check=False)
    assert (r.status, r.http_status, r.body) == (-4, 403, b"denied by the manifest")


@rust_only
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


@rust_only
def test_memory_cap_is_an_error_not_a_trap(misuse):
    r = misuse.call("huge_scratch", check=False)
    assert (r.status, r.http_status, r.body) == (1, 500, b"out of linear memory")
    assert misuse.call("ok").body == b"still serving"
