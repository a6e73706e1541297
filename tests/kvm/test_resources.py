"""Long runs do not leak: 10,000 calls, and many guest deaths and rebirths,
leave the process's file descriptors and memory where they were."""

from __future__ import annotations

import os

import pytest

from edgehost.errors import GuestFault
from edgehost.isolation import guest as vmm
from edgehost.native import lib
from tests.support import request

pytestmark = pytest.mark.kvm


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("spin_us", [100, 0], ids=["warm", "cold-on-caller"])
def test_10k_calls_do_not_grow_fds_or_memory(make_guest, spin_us):
    g = make_guest(idle_spin_us=spin_us, cold_on_caller=True)
    req, res, _keep = request(1, bytes(range(256)) * 16)
    for _ in range(500):  # warm up allocators and the guest
        g.offload(req, res)
    fds, rss = _fds(), _rss_kib()
    for _ in range(10_000):
        g.offload(req, res)
    assert _fds() == fds
    assert _rss_kib() - rss < 4096  # KiB; no per-call growth
    assert g.stats()["calls"] == 10_500
    if spin_us == 0:
        assert g.stats()["caller_runs"] == 10_500


def _posix_timers() -> int:
    with open("/proc/self/timers") as f:
        return sum(line.startswith("ID:") for line in f)


def _wait_os_thread_gone(native_id: int) -> None:
    """Block until the OS thread ``native_id`` has exited.

    ``Thread.join()`` returns once the Python thread state is gone, which is
    *before* the OS thread runs its pthread key destructors (where the
    monitor deletes the thread's deadline timer) and exits: counting timers
    right after join() races with that destructor."""
    task = f"/proc/self/task/{native_id}"
    while os.path.exists(task):
        os.sched_yield()


def test_threads_that_made_cold_calls_leave_no_timers(make_guest):
    # Each calling thread gets a deadline timer for its runs of the guest;
    # it must go with the thread.
    import threading

    g = make_guest(idle_spin_us=0, cold_on_caller=True)
    req, res, _keep = request(1, b"123456789")
    g.offload(req, res)
    before = _posix_timers()
    alive: list[int] = []

    def call_and_count():
        g.offload(req, res)
        alive.append(_posix_timers())

    for _ in range(50):
        t = threading.Thread(target=call_and_count)
        t.start()
        t.join()
        _wait_os_thread_gone(t.native_id)
    assert g.stats()["caller_runs"] == 51
    assert set(alive) == {before + 1}  # the thread's own timer, while it lives
    assert _posix_timers() == before


def test_guest_rebirth_does_not_leak(make_guest):
    g = make_guest(image=vmm.TEST_IMAGE, mem_mb=32, idle_spin_us=0)
    ok, okres, _k1 = request(1, b"x")
    bad, badres, _k2 = request(0, args=(0,))
    g.offload(ok, okres)
    fds, rss = _fds(), _rss_kib()
    for _ in range(100):
        with pytest.raises(GuestFault):
            g.call_op(lib.EH_OP_TEST_READ, bad, badres)
        g.offload(ok, okres)
    assert _fds() == fds
    assert _rss_kib() - rss < 8192
    assert g.stats()["creates"] == 101


def test_handles_close_deterministically():
    fds = _fds()
    for _ in range(20):
        with vmm.Guest(mem_mb=32) as g:
            g.boot()
        assert g._vm is None
    assert _fds() == fds
