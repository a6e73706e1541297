"""The adaptive idle window (native_modules/vmm/idle.c): calls that keep
finding the guest just parked grow the window up to 4x the configured one;
gaps longer than that shrink it back; a window of 0 stays 0. The guests run
their cold calls on the caller's thread (cold_on_caller=True), whose
hand-off to the vCPU thread the sequences below follow; which cold path a
default guest takes is measured per machine (test_cold_path.py)."""

from __future__ import annotations

import time

import pytest

from edgehost.isolation import guest as vmm
from edgehost.native import lib
from tests.support import PARK_WAIT_MS, assert_guest_serves, call_test_op, request

pytestmark = pytest.mark.kvm

BASE_US = 2_000   # long enough that a Python gap of 1.5x lands inside 4x on a busy box
MAX_US = 4 * BASE_US


def _crc(g):
    req, res, _keep = request(1, b"123456789")
    g.offload(req, res)
    assert res.value == 0xE3069283


def _after(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _grown_guest(make_guest):
    """A guest whose window grew to its bound: each second call comes just
    after a park -- less than the window's length after it."""
    g = make_guest(cold_on_caller=True, idle_spin_us=BASE_US)
    g.boot()
    assert g.stats()["idle_window_us"] == BASE_US
    for _ in range(4):
        _crc(g)    # (after a caller-run call: the vCPU thread takes this one, warm)
        assert g.wait_parked(PARK_WAIT_MS)
        _crc(g)    # finds it just parked: the window doubles
    return g


def test_calls_just_after_the_guest_parked_grow_the_window(make_guest):
    st = _grown_guest(make_guest).stats()
    assert st["idle_grows"] >= 2, st
    assert st["idle_window_us"] == MAX_US, st   # doubled, and no further


def test_a_grown_window_keeps_calls_warm_across_gaps_it_covers(make_guest):
    g = _grown_guest(make_guest)
    warm0 = g.stats()["warm_calls"]
    for _ in range(10):
        _after(1.5 * BASE_US / 1e6)          # past the configured window, inside the grown one
        _crc(g)
    st = g.stats()
    assert st["warm_calls"] - warm0 >= 8, st


def test_long_gaps_shrink_the_window_back(make_guest):
    g = _grown_guest(make_guest)
    assert g.stats()["idle_window_us"] == MAX_US
    for _ in range(3):
        _crc(g)                              # into the warm regime (a caller-run
        _crc(g)                              # call leaves the guest stopped, not spinning)
        assert g.wait_parked(PARK_WAIT_MS)
        time.sleep(5 * MAX_US / 1e6)         # longer than the largest window
        _crc(g)
    assert g.stats()["idle_window_us"] == BASE_US


def test_no_window_asked_for_stays_none(make_guest):
    g = make_guest(cold_on_caller=True, idle_spin_us=0)
    for _ in range(5):
        _crc(g)
        assert g.wait_parked(PARK_WAIT_MS)
        _crc(g)
    st = g.stats()
    assert st["idle_window_us"] == 0 and st["idle_grows"] == 0


def test_a_window_the_guest_wrote_itself_ends_at_its_next_reset(make_guest):
    """spin_tsc sits in the guest-writable call window: a guest that sets it
    huge is parked by the watchdog at the host's window (vcpu_thread.c), and
    the reset puts the host's value back (snapshot.c), so the next idle ends
    in a park of its own."""
    g = make_guest(cold_on_caller=True, image=vmm.TEST_IMAGE, idle_spin_us=BASE_US, mem_mb=64)
    g.boot()
    call_test_op(g, lib.EH_OP_TEST_WRITE, lib.EH_GL_WINDOW + lib.EH_GL_WIN_SPIN_TSC, 1 << 62)
    assert_guest_serves(g)                   # the vCPU thread takes this one: warm regime
    assert g.wait_parked(PARK_WAIT_MS)
    assert g.stats()["forced_parks"] == 1
    assert_guest_serves(g)
    assert_guest_serves(g)
    assert g.wait_parked(PARK_WAIT_MS)
    assert g.stats()["forced_parks"] == 1
