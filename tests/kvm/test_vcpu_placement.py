"""Where the vCPU thread runs next to its caller (vcpu_thread.c,
share_core_less): a warm guest spinning on the caller's own CPU makes every
call wait for a time slice, so a guest that answers while stacked there
moves off that CPU, on a 2-CPU machine too, and keeps its whole CPU set."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.support import request, thread_comms

pytestmark = pytest.mark.kvm


def _vcpu_threads() -> set[int]:
    return {tid for tid, name in thread_comms(os.getpid()).items() if name == "eh-vcpu"}


def _last_cpu(tid: int) -> int:
    stat = pathlib.Path(f"/proc/self/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[36])   # field 39, "processor"


def _crc(g):
    req, res, _keep = request(1, b"123456789")
    g.offload(req, res)
    assert res.value == 0xE3069283


def test_a_vcpu_thread_stacked_on_its_callers_cpu_moves_off_it(make_guest):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip(f"needs 2 CPUs to move between, this process may use {len(cpus)}")
    before = _vcpu_threads()
    g = make_guest(idle_spin_us=20_000)   # stays warm (spinning) between the calls below
    g.boot()
    (tid,) = _vcpu_threads() - before
    mine = os.sched_getaffinity(0)
    here = cpus[-1]
    try:
        os.sched_setaffinity(0, {here})
        os.sched_setaffinity(tid, {here})   # stacked, as the scheduler may leave them
        for _ in range(50):
            _crc(g)
        assert _last_cpu(tid) != here
        assert os.sched_getaffinity(tid) != {here}, "held on the caller's CPU"
        assert g.stats()["warm_calls"] > 0
    finally:
        os.sched_setaffinity(0, mine)
