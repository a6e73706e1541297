"""Prewarm per request (wasmhost/instance.c): a request of a tenant whose
previous request made kernel calls wakes its parked guest before the body is
copied in and the handler runs; one after a request that made none leaves
the guest parked."""

from __future__ import annotations

import time

import pytest

from tests.support import PARK_WAIT_MS, wait_for, wat_tenant

pytestmark = pytest.mark.kvm

WAT = """
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (call $crc (local.get $p) (local.get $n) (i32.const 0)))
  (func (export "nop") (param $p i32) (param $n i32) (result i32) (i32.const 0))
"""


def test_only_a_request_after_kernel_calls_wakes_the_guest():
    t = wat_tenant(WAT, name="prewarm", isolation="kvm", kernels=["crc32c"])
    try:
        for _ in range(2):
            assert t.call("crc", b"123456789", check=False).status & 0xFFFFFFFF == 0xE3069283
        assert t.guest.wait_parked(PARK_WAIT_MS)
        resets = t.guest.stats()["resets"]
        t.call("nop", b"")           # after kernel calls: wakes the guest, which idles, then parks
        assert wait_for(lambda: t.guest.stats()["resets"] > resets)
        assert t.guest.wait_parked(PARK_WAIT_MS)
        st = t.guest.stats()
        t.call("nop", b"")           # after a request without: the guest stays parked
        time.sleep(0.05)
        after = t.guest.stats()
        assert (after["resets"], after["calls"]) == (st["resets"], st["calls"])
        assert st["calls"] == 2
    finally:
        t.close()


def test_a_call_right_after_the_prewarm_runs_once():
    # The request's prewarm wakes the parked vCPU thread and the handler's
    # kernel call comes microseconds later, while that thread is still
    # waking: the caller must either find it running or run the call on its
    # own thread alone. When both entered the guest, the caller's run met
    # only idle exits until its 10 ms limit tick (counted as a forced park).
    t = wat_tenant(WAT, name="prewarm-race", isolation="kvm", kernels=["crc32c"])
    try:
        assert t.call("crc", b"123456789", check=False).status & 0xFFFFFFFF == 0xE3069283
        for _ in range(40):
            assert t.guest.wait_parked(PARK_WAIT_MS)
            assert t.call("crc", b"123456789", check=False).status & 0xFFFFFFFF == 0xE3069283
        assert t.guest.stats()["forced_parks"] == 0
    finally:
        t.close()


def test_new_instances_of_a_tenant_without_kernel_calls_leave_the_guest_parked():
    # A fresh instance per request: each request makes an instance. Without
    # kernel calls (and for a version's first instance, made at load) none of
    # them may wake the guest: its idle window would hold a core for nothing
    # -- during a hot reload, the core the reload and the requests need.
    t = wat_tenant(WAT, name="prewarm-fresh", isolation="kvm", kernels=["crc32c"],
                   instance="fresh")
    try:
        assert t.call("crc", b"123456789", check=False).status & 0xFFFFFFFF == 0xE3069283
        assert t.guest.wait_parked(PARK_WAIT_MS)
        resets = t.guest.stats()["resets"]
        t.call("nop", b"")           # after kernel calls: its instance and request wake it,
        assert wait_for(lambda: t.guest.stats()["resets"] > resets)   # it idles, parks, resets
        assert t.guest.wait_parked(PARK_WAIT_MS)
        time.sleep(0.02)             # (a deferred reset of the crc call's run, if one is due)
        st = t.guest.stats()
        for _ in range(5):
            t.call("nop", b"")       # a new instance each, after a request without kernel calls
        time.sleep(0.05)
        after = t.guest.stats()
        assert (after["resets"], after["calls"]) == (st["resets"], st["calls"])
        assert t.pool_stats()["created"] >= 7
    finally:
        t.close()
