"""Faults under ``edgehost serve``: a worker killed (SIGKILL) in the middle
of a request while others are under load. The master says so in one log line
naming the worker and its exit, replaces it, and the port, the other
requests and every tenant keep answering as before."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.support import Load, Server, build_tenants, get, record, wait_for

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def fault_tenants(tmp_path_factory, c_toolchain):
    return build_tenants(tmp_path_factory.mktemp("fault-tenants"), ["probe"], ["hello-c"])


def _wait(cond, timeout=60.0):
    return wait_for(cond, timeout, step=0.05)


def test_worker_killed_mid_request_under_load(fault_tenants):
    with Server(fault_tenants, workers=1, threads=4) as s:
        (pid,) = s.worker_pids()
        slow = {}

        def in_flight():
            try:
                slow["r"] = get(s.port, "/probe/sleep?ms=3000", timeout=60)
            except OSError as exc:
                slow["r"] = type(exc).__name__

        with Load(s.port, "/hello-c/hello", clients=2) as load:
            t = threading.Thread(target=in_flight)
            t.start()
            time.sleep(0.5)  # the slow request is inside its handler now
            os.kill(pid, signal.SIGKILL)
            t.join(timeout=60)
            assert _wait(lambda: s.worker_pids() not in ([], [pid]))
            n_after = len(load.results)
            time.sleep(0.5)
        lines = [ln for ln in s.log().splitlines() if f"(pid {pid}) exited" in ln]
        fate = slow["r"] if isinstance(slow["r"], str) else f"answered {slow['r'][0]}"
        record("fault", fault="worker SIGKILLed while a request runs in it, under load",
               outcome=f"in-flight request: {fate}; "
                       f"log: {lines[0].strip() if lines else 'NO LOG LINE'}; "
                       f"{len(load.failures())} of {len(load.results)} loaded requests failed "
                       "(those on the killed process)")
        assert len(lines) == 1 and "replacing it" in lines[0], s.log()[-2000:]
        assert [o for o, _ in load.results[n_after:] if o != 200] == []
        assert get(s.port, "/probe/echo")[0] == 200
        assert b"greeting=v1" in get(s.port, "/probe/echo")[2]  # configuration as before
