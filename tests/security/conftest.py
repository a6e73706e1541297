"""Fixtures of the security tests: a well-behaved bystander tenant that must
keep answering correctly whatever its neighbours do."""

from __future__ import annotations

import pytest

from tests.support import wat_tenant

BYSTANDER = """
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_body" (func $body (param i32 i32) (result i32)))
  ;; answers crc32c(input) as 4 bytes, the host API's own path
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (call $crc (local.get $p) (local.get $n) (i32.const 0)))
    (drop (call $body (i32.const 0) (i32.const 4)))
    (i32.const 0))
"""


class Bystander:
    """A tenant that is never attacked; :meth:`check` proves it still serves."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.calls = 0

    def check(self) -> None:
        import crc32c

        data = b"bystander %d" % self.calls
        self.calls += 1
        body = self.tenant.call("crc", data).body
        assert int.from_bytes(body, "little") == crc32c.crc32c(data)


@pytest.fixture(scope="session")
def bystander(tmp_path_factory):
    return Bystander(wat_tenant(BYSTANDER, name="bystander",
                                tmp=tmp_path_factory.mktemp("bystander")))
