"""A C tenant that misuses the API gets clear errors; the host keeps serving."""

import shutil
import struct

import pytest

from edgehost.errors import TenantTrap
from edgehost.runtime.tenant import load
from edgehost.toolchain import build
from tests.support import REPO


@pytest.fixture(scope="module")
def misuse(tmp_path_factory, c_toolchain):
    d = tmp_path_factory.mktemp("misuse") / "misuse"
    shutil.copytree(REPO / "tests/integration/tenants_misuse", d)
    build.build(d)
    return load(d)


@pytest.mark.parametrize("export, needle", [
    ("wild_log", "edgehost.log: range [4294963200, +64) is outside linear memory"),
    ("wild_body", "edgehost.response_set_body: range [4294963200, +8192)"),
    ("wrapping_len", "edgehost.crc32c: range"),
    ("kv_get_into_wild", "edgehost.kv_get: range [4294963200, +16)"),
])
def test_bad_pointers_trap_clearly(misuse, export, needle):
    with pytest.raises(TenantTrap) as ei:
        misuse.call(export)
    assert needle in str(ei.value)
    assert misuse.call("ok").body == b"still serving"


def test_oversized_write_is_refused(misuse):
    body = misuse.call("oversized_kv").body
    assert struct.unpack("<i", body)[0] == -2  # EH_ERR_INVALID: over kv_max_value
    assert misuse.kv_stats()[1] < 1024  # nothing of the 1 MiB value was stored
