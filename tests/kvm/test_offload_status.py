"""What a tenant sees when its guest cannot run a request: each sink status
keeps its meaning up to the tenant (one table, wasmhost/hostapi_offload.c):
too large is EH_ERR_QUOTA, bad arguments EH_ERR_INVALID -- not "guest fault"."""

from __future__ import annotations

import struct

import pytest

from edgehost.wasm_config import abi
from tests.support import wat_tenant

pytestmark = pytest.mark.kvm

# The body is a 64-byte offload request (absolute addresses); the handler
# copies it to 256, calls offload and returns its result code.
WAT = """
  (import "edgehost" "offload" (func $offload (param i32 i32) (result i32)))
  (memory (export "memory") 4800)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "run") (param $p i32) (param $n i32) (result i32)
    (memory.copy (i32.const 256) (local.get $p) (i32.const 64))
    (call $offload (i32.const 256) (i32.const 512)))
"""


def _request(kernel, in_at, in_len, out_at, out_cap, args=()) -> bytes:
    a = list(args) + [0] * (4 - len(args))
    return struct.pack("<II4Q6I", kernel, 0, *a, in_at, in_len, 0, 0, out_at, out_cap)


@pytest.fixture(scope="module")
def tenant():
    t = wat_tenant(WAT, name="status", isolation="kvm", kernels=["json-validate"],
                   limits={"memory_mb": 300})
    yield t
    t.close()


def test_inputs_and_output_larger_than_the_guest_are_a_quota_error(tenant):
    # 8 KiB of input, a 280 MiB output buffer: more than the guest's 256 MiB
    body = _request(abi.KERNELS["json-validate"], 1 << 20, 8192, 4 << 20, 280 << 20)
    assert tenant.call("run", body, check=False).status == abi.ERRORS["QUOTA"]


def test_a_kernel_the_manifest_does_not_allow_is_denied(tenant):
    body = _request(abi.KERNELS["vec-dot"], 1 << 20, 64, 0, 0)
    assert tenant.call("run", body, check=False).status == abi.ERRORS["DENIED"]


def test_the_guest_still_serves_after_a_refusal(tenant):
    body = _request(abi.KERNELS["nop"], 0, 0, 0, 0)
    assert tenant.call("run", body, check=False).status == 0
