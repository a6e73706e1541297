"""A mix of good calls, faults and timeouts from several threads: every good
call still returns the right answer and nothing leaks."""

from __future__ import annotations

import os
import random
import threading

import pytest

from edgehost import kernels
from edgehost.errors import GuestFault, GuestTimeout
from edgehost.isolation import guest as vmm
from edgehost.native import lib
from tests.support import request

pytestmark = pytest.mark.kvm


def _worker(g, seed, n, errors):
    rnd = random.Random(seed)
    for _ in range(n):
        kind = rnd.random()
        try:
            if kind < 0.05:
                req, res, _k = request(0, args=(0,))
                with pytest.raises(GuestFault):
                    g.call_op(lib.EH_OP_TEST_READ, req, res)
            elif kind < 0.08:
                req, res, _k = request(0)
                with pytest.raises(GuestTimeout):
                    g.call_op(lib.EH_OP_TEST_LOOP, req, res)
            else:
                data = rnd.randbytes(rnd.randrange(0, 5000))
                req, res, _k = request(1, data)
                g.offload(req, res)
                if res.value != kernels.crc32c(data, isolation="inproc"):
                    errors.append("wrong result")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))


def test_mixed_faults_timeouts_and_calls(make_guest):
    guests = [make_guest(image=vmm.TEST_IMAGE, mem_mb=32, time_limit_ms=20,
                         idle_spin_us=spin) for spin in (0, 100)]
    fds = len(os.listdir("/proc/self/fd"))
    errors: list[str] = []
    threads = [threading.Thread(target=_worker, args=(guests[i % 2], i, 150, errors))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(os.listdir("/proc/self/fd")) <= fds + 2 * 3  # at most one live VM per guest
    for g in guests:
        st = g.stats()
        assert st["faults"] > 0 and st["timeouts"] > 0
