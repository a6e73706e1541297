"""A tenant owns its KVM guest: two loaded tenants never share one (nor its
lock or time limit), whatever their names; the guest goes with the tenant."""

from __future__ import annotations

import threading
import time

import pytest

from edgehost.errors import GuestClosed
from tests.support import wat_tenant

pytestmark = pytest.mark.kvm

# A tenant with two handlers: the CRC32C of the body, and STREAM copy of
# 32 MiB of its memory, repeated as often as the body's first u32 says.
WAT = """
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (import "edgehost" "offload" (func $offload (param i32 i32) (result i32)))
  (memory (export "memory") 1600)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (call $crc (local.get $p) (local.get $n) (i32.const 0)))
  ;; STREAM copy of 32 MiB, repetitions = the body's first u32
  (func (export "stream") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 256) (i32.const 15))                 ;; kernel: stream
    (i64.store (i32.const 264) (i64.const 0))                  ;; arg0: copy
    (i64.store (i32.const 272) (i64.extend_i32_u (i32.load (local.get $p))))
    (i32.store (i32.const 296) (i32.const 16777216))           ;; in
    (i32.store (i32.const 300) (i32.const 33554432))           ;; in_len
    (i32.store (i32.const 312) (i32.const 50331648))           ;; out
    (i32.store (i32.const 316) (i32.const 33554432))           ;; out_cap
    (call $offload (i32.const 256) (i32.const 512)))
"""


def _tenant(name, deadline_ms, isolation="kvm"):
    return wat_tenant(WAT, name=name, isolation=isolation, kernels=["stream"],
                      limits={"deadline_ms": deadline_ms, "memory_mb": 100})


def test_two_tenants_with_one_name_do_not_share_a_guest_or_a_time_limit():
    a = _tenant("same-name", 50)
    b = _tenant("same-name", 5000)
    try:
        assert a.guest is not b.guest
        assert (a.guest.time_limit_ms, b.guest.time_limit_ms) == (50, 5000)
        assert a.call("crc", b"123456789", check=False).status & 0xFFFFFFFF == 0xE3069283
        assert a.guest.stats()["calls"] == 1 and b.guest.stats()["calls"] == 0
    finally:
        a.close()
        b.close()


def test_one_tenants_long_call_does_not_hold_the_others_guest():
    # b runs a long kernel (its own guest, its own lock); a's call is served
    # meanwhile -- it returns while b's call is still running.
    a = _tenant("busy-name", 1000)
    b = _tenant("busy-name", 20000)
    try:
        started = threading.Event()
        result = {}

        def long_call():
            started.set()
            result["b"] = b.call("stream", (200).to_bytes(4, "little"), check=False).status

        t = threading.Thread(target=long_call)
        t.start()
        started.wait()
        time.sleep(0.1)  # b's call is in its guest (a copy and a boot away)
        assert a.call("crc", b"123456789", check=False).status & 0xFFFFFFFF == 0xE3069283
        assert t.is_alive(), "b's long call ended before a's short one was served"
        t.join()
        assert result["b"] == 0
    finally:
        a.close()
        b.close()


def test_the_guest_goes_with_its_tenant():
    t = _tenant("closing", 1000)
    g = t.guest
    t.close()
    t.close()  # idempotent
    assert g.closed
    with pytest.raises(GuestClosed):
        g.stats()
