"""Inline calls (native_modules/serving/dispatch.c, "Inline"): a worker's
loop thread runs the calls of a version proven fast itself; a call still
running at the 1 ms budget with no effect yet is stopped and run again on a
handler thread; one that keeps running after an effect (a log line here)
bars its version from the loop thread."""

from __future__ import annotations

import threading
import time

import pytest

from tests import support
from tests.support import Server

pytestmark = pytest.mark.toolchain
STREAK = 32  # fast threaded calls a version shows before it runs inline (INLINE_AFTER)


def _counter(s: Server, name: str, tenant: str) -> float:
    return support.metric(s.metrics(), name, tenant=tenant)


def _requests(s: Server, tenant: str) -> float:
    text = s.metrics()
    return sum(support.metric(text, "edgehost_requests_total", tenant=tenant, code=c)
               for c in ("200", "500", "504"))


def _calls(s: Server, path: str, n: int) -> None:
    for _ in range(n):
        status, _, body = support.get(s.port, path)
        assert status == 200, body


def _inline(s: Server, tenant: str, total: int) -> float:
    """Inline requests of tenant once its first `total` requests are counted
    (a request is counted just after its response went out)."""
    support.wait_for(lambda: _requests(s, tenant) >= total)
    return _counter(s, "edgehost_inline_requests_total", tenant)


def _until_inline(s: Server, tenant: str, path: str, most: int = 10 * STREAK) -> float:
    """Calls path until one call ran inline (so the next one will too, unless
    it is itself slow); returns the tenant's inline count then."""
    before = _counter(s, "edgehost_inline_requests_total", tenant)
    done = _requests(s, tenant)
    for _ in range(most):
        _calls(s, path, 1)
        done += 1
        now = _inline(s, tenant, done)
        if now > before:
            return now
    raise AssertionError(f"{tenant} never ran inline in {most} calls of {path}")


@pytest.fixture
def server(serve_tenants):
    """A fresh server per test: versions start with no streak (their
    snapshot forms live, so none is swapped in during the test)."""
    with Server(serve_tenants, threads=2) as s:
        s.wait_snapshots()
        yield s


def test_a_fast_tenant_runs_inline_unless_told_not_to(serve_tenants):
    with Server(serve_tenants, threads=2) as s:
        s.wait_snapshots()  # a swap restarts the streak (CI once counted 19)
        _calls(s, "/hello-c/hello", 100)
        inline = _inline(s, "hello-c", 100)
    # The first STREAK calls ran on the threads; a call that took over 50 us
    # there (an instance's first call, a preempted thread) takes 8 off the
    # streak, an inline one over 1 ms restarts it.
    assert 20 <= inline <= 100 - STREAK, inline
    with Server(serve_tenants, threads=2, extra=["--no-inline"]) as s:
        s.wait_snapshots()
        _calls(s, "/hello-c/hello", 100)
        assert _inline(s, "hello-c", 100) == 0


def test_a_long_call_with_no_effect_is_preempted_and_run_on_a_thread(server):
    _until_inline(server, "probe", "/probe/sleep?ms=0")
    result = {}
    slow = threading.Thread(
        target=lambda: result.update(r=support.get(server.port, "/probe/sleep?ms=3000")))
    slow.start()
    time.sleep(0.1)
    # The loop thread is free again: another request is answered meanwhile.
    assert support.get(server.port, "/hello-c/hello")[0] == 200
    assert slow.is_alive()
    slow.join()
    assert result["r"][0] == 200 and result["r"][2] == b"slept"
    support.wait_for(
        lambda: _counter(server, "edgehost_inline_preempted_total", "probe") == 1)


def test_a_call_long_after_an_effect_bars_its_version_from_the_loop(server):
    before = _until_inline(server, "probe", "/probe/logsleep?ms=0")
    done = _requests(server, "probe")
    # Past the budget after its log line: it runs to its end on the loop
    # thread (20 ms), and the version never runs inline again.
    _calls(server, "/probe/logsleep?ms=20", 1)
    _calls(server, "/probe/logsleep?ms=0", 3 * STREAK)
    assert _inline(server, "probe", done + 1 + 3 * STREAK) == before + 1
    assert _counter(server, "edgehost_inline_preempted_total", "probe") == 0
