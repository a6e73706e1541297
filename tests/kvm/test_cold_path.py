"""Cold calls: a parked guest is entered on the caller's own thread (no
vCPU-thread wake), left stopped, and reset later by its parked vCPU thread
-- or first, by the next call; or its vCPU thread is woken, whichever path
the monitor measures faster on this machine (tests at the end)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from edgehost.isolation import guest as vmm
from edgehost.native import lib
from tests.support import PARK_WAIT_MS, request

pytestmark = pytest.mark.kvm

PEEK_SCRATCH = 2


def _crc(g, data=b"123456789"):
    req, res, _keep = request(1, data)
    g.offload(req, res)
    return res.value


def _op(g, op, *args):
    req, res, _keep = request(0, args=args)
    g.call_op(op, req, res)
    return res


def test_parked_guest_runs_on_the_callers_thread(make_guest):
    g = make_guest(idle_spin_us=0, cold_on_caller=True)
    for _ in range(5):
        assert _crc(g) == 0xE3069283
        assert g.wait_parked(PARK_WAIT_MS)
    st = g.stats()
    assert st["caller_runs"] == 5 and st["cold_calls"] == 0 and st["warm_calls"] == 0


def test_a_burst_after_a_cold_call_goes_warm(make_guest):
    g = make_guest(idle_spin_us=200_000, cold_on_caller=True)
    g.boot()
    for _ in range(50):
        assert _crc(g) == 0xE3069283
    st = g.stats()
    # the first call ran on this thread, the second woke the vCPU thread
    # into the warm regime, the rest found it spinning
    assert st["caller_runs"] == 1 and st["cold_calls"] == 1 and st["warm_calls"] == 48


def test_parked_thread_resets_the_guest_after_a_cold_call(make_guest):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0, mem_mb=64, cold_on_caller=True)
    g.boot()
    resets = g.stats()["resets"]
    _op(g, lib.EH_OP_TEST_STASH, 0x5EC2E7)  # on this thread; the guest stops unreset
    deadline = time.monotonic() + 2
    while g.stats()["resets"] == resets and time.monotonic() < deadline:
        time.sleep(0.002)
    assert g.stats()["resets"] == resets + 1  # done by the vCPU thread, unasked
    assert _op(g, lib.EH_OP_TEST_PEEK).value == 0


@pytest.mark.parametrize("cold_on_caller", [True, False, None], ids=["caller", "wake", "measured"])
def test_back_to_back_strict_calls_each_start_from_the_snapshot(make_guest, cold_on_caller):
    # idle_spin_us=0: on the caller's path the next call comes before the
    # deferred reset and must reset the guest itself; woken, the vCPU
    # thread resets it as it parks; measured, the two alternate.
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0, mem_mb=64, cold_on_caller=cold_on_caller)
    for i in range(20):
        _op(g, lib.EH_OP_TEST_STASH, 0x100 + i)
        assert _op(g, lib.EH_OP_TEST_PEEK).value & PEEK_SCRATCH == 0


def test_cold_calls_from_many_threads(make_guest):
    g = make_guest(idle_spin_us=0)
    errors: list[str] = []

    def work():
        try:
            for _ in range(50):
                if _crc(g) != 0xE3069283:
                    errors.append("wrong result")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert g.stats()["calls"] == 200


def _on_one_cpu(fn):
    """fn() on a new thread allowed on one CPU only (its mask is what a
    guest made there, and its vCPU thread, inherit); its result."""
    def pinned():
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return fn()

    return _on_thread(pinned)


def test_a_guest_made_on_one_cpu_does_not_spin(make_guest):
    """On the only CPU its threads may use, a spinning guest would take the
    core from the caller it waits for: a handle made there never spins; its
    calls run on the caller's thread and resume the guest from its previous
    call's done exit, reset by the host at the warm path's bound (every
    1024 calls or 50 ms, and 5 ms after the last call), not every call."""
    g = _on_one_cpu(lambda: make_guest(idle_spin_us=100_000))
    assert g.stats()["idle_spin_us"] == 0
    if len(os.sched_getaffinity(0)) > 1:  # this thread's own mask: the spin stays
        assert make_guest(idle_spin_us=100_000).stats()["idle_spin_us"] == 100_000

    def calls():
        for _ in range(200):
            assert _crc(g) == 0xE3069283

    _on_one_cpu(calls)
    st = g.stats()
    assert st["warm_calls"] == 0 and st["cold_calls"] == 0 and st["caller_runs"] == 200
    assert st["resets"] < 100, st  # a guest with idle_spin_us=0 asked for: 199


def test_a_one_cpu_guest_left_idle_is_reset(make_guest):
    """What a call left in a one-CPU guest is gone once it has been idle
    (the parked vCPU thread's deferred reset), as after a warm window."""
    g = _on_one_cpu(lambda: make_guest(image=vmm.TEST_IMAGE, idle_spin_us=100_000, mem_mb=64))

    def stash_then_idle():
        g.boot()
        resets = g.stats()["resets"]
        _op(g, lib.EH_OP_TEST_STASH, 0x5EC2E7)
        deadline = time.monotonic() + 2
        while g.stats()["resets"] == resets and time.monotonic() < deadline:
            time.sleep(0.002)
        assert g.stats()["resets"] == resets + 1
        return _op(g, lib.EH_OP_TEST_PEEK).value

    assert _on_one_cpu(stash_then_idle) == 0


@pytest.fixture
def cold_measure():
    """This process's measure of the cold paths, put back after the test."""
    saved = vmm.cold_paths()
    yield
    vmm.set_cold_paths(saved)


@pytest.mark.parametrize("faster", ["caller", "wake"])
def test_cold_calls_take_the_path_measured_faster(make_guest, cold_measure, faster):
    """With one path measured far faster (1 s against 10 us: no real sample
    can turn that round, whatever this machine's wakes cost), cold calls
    (the guest parked after its idle window) take it, but for the few that
    probe the other (3 in every 512 where it is over twice as slow), so that
    a change would be seen; each answers right on either."""
    slow, fast = 1_000_000_000, 10_000
    vmm.set_cold_paths({"caller": {"avg_ns": fast if faster == "caller" else slow, "samples": 100},
                        "wake": {"avg_ns": fast if faster == "wake" else slow, "samples": 100}})
    g = make_guest(idle_spin_us=100)  # the choice is made where a guest has an idle window
    g.boot()
    assert g.wait_parked(PARK_WAIT_MS)
    before = g.stats()
    for _ in range(600):
        assert _crc(g) == 0xE3069283
        assert g.wait_parked(PARK_WAIT_MS)
    st = g.stats()
    runs = {"caller": st["caller_runs"] - before["caller_runs"],
            "wake": st["cold_calls"] - before["cold_calls"]}
    other = "wake" if faster == "caller" else "caller"
    assert runs[faster] + runs[other] == 600 and 3 <= runs[other] <= 6, runs
    assert vmm.cold_paths()["faster"] == faster


def test_a_call_right_after_a_prewarm_goes_to_the_woken_thread(make_guest, cold_measure):
    """A request's prewarm (eh_vm_prewarm) wakes the parked vCPU thread and
    the handler's kernel call follows microseconds later, the guest still
    parked. Even where the caller's run is measured faster, the call goes to
    the woken thread, which then idles in the window: run on the caller,
    the guest would stop after it with no thread spinning, and a tenant
    whose requests come a little apart would pay a cold call on every
    request (40 in 40 calls of 50 us JSON kernels, Zen 5)."""
    vmm.set_cold_paths({"caller": {"avg_ns": 10_000, "samples": 100},
                        "wake": {"avg_ns": 1_000_000_000, "samples": 100}})
    g = make_guest(idle_spin_us=100)
    g.boot()
    before = g.stats()
    for _ in range(20):
        assert g.wait_parked(PARK_WAIT_MS)
        lib.eh_vm_prewarm(g._vm)
        assert _crc(g) == 0xE3069283
    st = g.stats()
    assert st["caller_runs"] == before["caller_runs"], st
    assert st["calls"] - before["calls"] == 20


def test_the_measure_starts_from_both_paths(make_guest, cold_measure):
    """Unmeasured, small cold calls take the caller's run until it has
    EH_VM_COLD_FIRST samples, then a wake until that has as many (a
    handle's first call on a path after the other is not a sample: it pays
    for moving the vCPU)."""
    vmm.set_cold_paths({"caller": {"avg_ns": 0, "samples": 0},
                        "wake": {"avg_ns": 0, "samples": 0}})
    first = lib.EH_VM_COLD_FIRST
    g = make_guest(idle_spin_us=100)
    for _ in range(2 * first + 4):  # each path's samples, plus the unsampled first calls
        assert _crc(g) == 0xE3069283
        assert g.wait_parked(PARK_WAIT_MS)
    paths = vmm.cold_paths()
    assert paths["caller"]["samples"] >= first and paths["wake"]["samples"] >= first, paths
    assert paths["caller"]["avg_ns"] > 0 and paths["wake"]["avg_ns"] > 0
    assert paths["faster"] in ("caller", "wake")


def test_a_guest_without_idle_window_keeps_the_callers_run(make_guest, cold_measure):
    """idle_spin_us=0 promises each call starts from the snapshot: its cold
    calls run on the caller's thread whatever the measure says (a wake would
    leave the guest to a thread still on its way to park)."""
    vmm.set_cold_paths({"caller": {"avg_ns": 1_000_000_000, "samples": 100},
                        "wake": {"avg_ns": 10_000, "samples": 100}})
    g = make_guest(idle_spin_us=0)
    for _ in range(20):
        assert _crc(g) == 0xE3069283
    st = g.stats()
    assert st["caller_runs"] == 20 and st["cold_calls"] == 0, st


@pytest.mark.parametrize("cold_on_caller", [True, False], ids=["caller", "wake"])
def test_a_long_kernel_is_charged_to_its_caller_whichever_thread_ran_it(make_guest,
                                                                       cold_on_caller):
    """The server demotes tenants by the CPU time of the thread that served
    a request (serving/dispatch.c). A kernel the caller ran itself is on its
    own CPU clock; one a vCPU thread ran while the caller slept is charged
    to it (eh_offload_charged_cpu_ns): either way the caller's account grows
    by about the guest's time, here a runaway stopped at its 100 ms limit."""
    from edgehost.errors import GuestTimeout
    from tests.support import call_test_op

    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=100, mem_mb=64, time_limit_ms=100,
                   cold_on_caller=cold_on_caller)
    g.boot()
    assert g.wait_parked(PARK_WAIT_MS)
    own0, charged0 = time.thread_time_ns(), lib.eh_vm_charged_cpu_ns()
    with pytest.raises(GuestTimeout):
        call_test_op(g, lib.EH_OP_TEST_LOOP)
    own, charged = time.thread_time_ns() - own0, lib.eh_vm_charged_cpu_ns() - charged0
    if cold_on_caller:
        assert own >= 90_000_000 and charged == 0, (own, charged)
    else:
        assert charged >= 90_000_000 and own < 50_000_000, (own, charged)


@pytest.mark.parametrize("lower", ["sched_idle", "nice"])
def test_a_caller_at_low_priority_runs_its_cold_calls_itself(make_guest, cold_measure, lower):
    """The server's lower lanes run at nice 10 (heavy tenants) and under
    SCHED_IDLE (hogs, failing tenants) so that a demoted tenant takes CPU
    only where others leave some; a wake would run its kernels at the vCPU
    thread's priority instead. So a caller below normal priority keeps its
    cold calls on its own thread, whatever the measure says."""
    vmm.set_cold_paths({"caller": {"avg_ns": 1_000_000_000, "samples": 100},
                        "wake": {"avg_ns": 10_000, "samples": 100}})
    g = make_guest(idle_spin_us=100)
    g.boot()
    assert g.wait_parked(PARK_WAIT_MS)
    before = g.stats()

    def niced_calls():
        if lower == "nice":   # this thread only (Linux), as the next line
            os.setpriority(os.PRIO_PROCESS, 0, 10)
        else:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        for _ in range(20):
            assert _crc(g) == 0xE3069283
            assert g.wait_parked(PARK_WAIT_MS)
        return True

    assert _on_thread(niced_calls)
    st = g.stats()
    assert st["caller_runs"] - before["caller_runs"] == 20, st
    assert st["cold_calls"] == before["cold_calls"], st


def _on_thread(fn):
    """fn() on a new thread; its result (its exception re-raised here)."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised on the test's thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]
