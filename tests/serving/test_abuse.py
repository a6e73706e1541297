"""Abuse isolation (issue 12 item 6): each abuse runs while a well-behaved
tenant is under load; the well-behaved tenant keeps a 100 % success rate.
Its p99 against its quiet p99 is measured and printed here (and by
``edgehost bench serve``), not asserted: timings are not test material on a
shared machine."""

from __future__ import annotations

import os
import threading
import time

import pytest

from edgehost.bench.serve_abuse import slowloris
from tests import support
from tests.support import Load, Server

pytestmark = pytest.mark.toolchain
ABUSE_S = 1.0


def _abuse_server(serve_tenants):
    """Four handler threads a lane, 2 s request timeout; yields once every
    version's snapshot form is live (no swap lands inside a count)."""
    with Server(serve_tenants, threads=4, extra=["--request-timeout", "2"]) as s:
        s.wait_snapshots()
        yield s


@pytest.fixture(scope="module")
def server(serve_tenants):
    yield from _abuse_server(serve_tenants)


@pytest.fixture(scope="module")
def quiet_p99(server) -> float:
    with Load(server.port, "/hello-c/hello", clients=4) as load:
        time.sleep(ABUSE_S)
    assert load.failures() == []
    return load.p99_ms()


# The abuse inside a KVM guest (a kernel past its guest's time limit) is in
# tests/kvm/test_serve.py, under the KVM gate.
ABUSES = {
    "infinite-loop": lambda port, stop: support.hammer(port, "/abuse/spin", stop, clients=4),
    "memory-bomb": lambda port, stop: support.hammer(port, "/abuse/bomb", stop, clients=4),
    "trap-storm": lambda port, stop: support.hammer(port, "/abuse/trap", stop, clients=4),
    "oversized-bodies": lambda port, stop: support.hammer(port, "/probe/echo", stop,
                                                   body=b"x" * (1 << 20), clients=4),
    "slow-clients": slowloris,
}


@pytest.mark.parametrize("abuse", list(ABUSES))
def test_well_behaved_tenant_keeps_answering(server, quiet_p99, abuse):
    quiet = quiet_p99
    slow0 = _slow_calls(server, "hello-c")
    stop = threading.Event()
    threads = ABUSES[abuse](server.port, stop)
    try:
        time.sleep(0.2)
        with Load(server.port, "/hello-c/hello", clients=4) as load:
            time.sleep(ABUSE_S)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert load.failures() == [], load.failures()[:5]
    assert len(load.results) > 20
    print(f"\n{abuse}: hello-c {len(load.results)} requests, 100% ok; p99 {load.p99_ms():.2f} ms "
          f"under abuse vs {quiet:.2f} ms quiet; "
          f"{_slow_calls(server, 'hello-c') - slow0:.0f} on the slow lane")


def _slow_calls(server, tenant: str) -> float:
    """Requests of ``tenant`` run on the slow lane so far."""
    return support.metric(server.metrics(), "edgehost_slow_lane_requests_total", tenant=tenant)


def _priorities(pid: int) -> list[tuple[int, int]]:
    """(scheduling policy, nice) of each thread of process ``pid`` (fields 41
    and 19 of stat; the policy is os.SCHED_OTHER, os.SCHED_IDLE, ...)."""
    import pathlib

    out = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out.append((int(fields[38]), int(fields[16])))
        except (OSError, IndexError, ValueError):
            pass  # the thread ended meanwhile
    return out


@pytest.fixture
def lane_server(serve_tenants):
    """A server of its own: the abuse phases above can leave hello-c held on
    the slow lane for a second -- the loopback softirq work of the 1 MiB
    bodies lands on its threads and is charged to its calls' CPU clocks
    (hello-c calls of 1-6 ms CPU seen only during oversized-bodies; two
    within a second make a hog, native_modules/serving/dispatch.c) -- and
    this test judges the lane rule, not that."""
    yield from _abuse_server(serve_tenants)


def test_slow_tenant_runs_on_the_low_priority_lane(lane_server):
    """A tenant whose calls burn CPU (here: spin to the 200 ms deadline) is
    demoted within a few calls, and moved on to the idle lane, whose threads
    run under SCHED_IDLE, once its mean is heavy too; a well-behaved
    tenant's calls stay on the fast lane."""
    server = lane_server
    [worker] = server.worker_pids()
    # --threads 4: four idle-lane threads (SCHED_IDLE: preempted at once by a
    # normal thread's wake-up), four slow-lane ones at nice 10, and the fast
    # lane's and the loop's at nice 0.
    threads = _priorities(worker)
    assert threads.count((os.SCHED_IDLE, 0)) == 4, threads
    assert threads.count((os.SCHED_OTHER, 10)) == 4, threads
    assert threads.count((os.SCHED_OTHER, 0)) >= 5, threads
    for _ in range(10):  # the second and third are CPU-timed hogs: the rest run demoted
        assert support.get(server.port, "/abuse/spin")[0] == 504
    for _ in range(50):
        assert support.get(server.port, "/hello-c/hello")[0] == 200

    def counted(tenant: str) -> tuple[float, float]:
        text = server.metrics()
        return (support.metric(text, "edgehost_slow_lane_requests_total", tenant=tenant),
                sum(support.metric(text, "edgehost_requests_total", tenant=tenant, code=c)
                    for c in ("200", "504")))

    assert support.wait_for(lambda: counted("abuse")[0] >= 6 and counted("hello-c")[1] >= 50), \
        (counted("abuse"), counted("hello-c"))
    # A hog whose mean is heavy too: at nice 10 until its sixth CPU-timed
    # call has lifted the mean past 250 us, on the idle lane from then on.
    idle = support.metric(server.metrics(), "edgehost_idle_lane_requests_total", tenant="abuse")
    assert 1 <= idle <= counted("abuse")[0] - 2, (idle, counted("abuse"))
    slow, total = counted("hello-c")
    assert total >= 50
    # CPU time decides, and most calls must be slow: hello-c (~10 us per
    # call alone, ~45 us sampled beside these abuses) stays on the fast lane
    # (0 of its calls in the runs here; a rule on a 40 us mean moved 22 %).
    print(f"\nslow lane: abuse {counted('abuse')[0]:.0f} requests, "
          f"hello-c {slow:.0f} of {total:.0f}")
    assert slow <= total / 10, (slow, total)


def test_a_heavy_tenant_runs_at_nice_10_not_on_the_idle_lane(lane_server):
    """Calls of ~0.4 ms of CPU that succeed (csv-ingest's kind of work) make
    a tenant heavy, not a hog: it runs on the nice-10 lane, which still gets
    a share of a busy CPU, never on the idle one, which gets next to none
    (csv-ingest beside hello-c under load: 5 ms p99 there, 103 ms idle)."""
    server = lane_server
    for _ in range(40):
        status, _, body = support.get(server.port, "/probe/sleep?us=400")
        assert (status, body) == (200, b"slept")

    def lanes() -> tuple[float, float]:
        text = server.metrics()
        return (support.metric(text, "edgehost_slow_lane_requests_total", tenant="probe"),
                support.metric(text, "edgehost_idle_lane_requests_total", tenant="probe"))

    assert support.wait_for(lambda: lanes()[0] >= 10), lanes()
    assert lanes()[1] == 0, lanes()


def test_a_tenant_whose_calls_fail_runs_on_the_low_priority_lane(serve_tenants):
    """A trap storm's calls are short (~60 us) but every one fails: once most
    of a version's recent calls failed by its own doing, its requests queue on
    the slow lane (from about the 11th failure in a row)."""
    with Server(serve_tenants, threads=2) as s:
        for _ in range(40):
            assert support.get(s.port, "/abuse/trap")[0] == 500
        support.wait_for(lambda: support.metric(
            s.metrics(), "edgehost_requests_total", tenant="abuse", code="500") >= 40)
        text = s.metrics()
        slow = support.metric(text, "edgehost_slow_lane_requests_total", tenant="abuse")
        idle = support.metric(text, "edgehost_idle_lane_requests_total", tenant="abuse")
        mine = [ln for ln in text.splitlines() if 'tenant="abuse"' in ln and "bucket" not in ln]
    assert 20 <= slow <= 30, (slow, mine)
    assert idle == slow, (idle, mine)   # failing calls: the idle lane


def test_the_snapshot_form_keeps_the_slow_lane(serve_tenants):
    """A version's snapshot form goes live in place of its configured form
    a moment after it starts: a new served version (eh_svc) of the same
    module, which takes over the share of failed calls (dispatch.c,
    eh_disp_inherit). A trap storm demoted before the swap stays demoted
    after it; with a clean record its next 11 failures ran on the fast lane
    (CI once counted 18 slow-lane requests of 40 in the test above, the
    swap landing mid-storm)."""
    with Server(serve_tenants, threads=2) as s:
        for _ in range(40):
            assert support.get(s.port, "/abuse/trap")[0] == 500
        s.wait_snapshots()
        before = _slow_calls(s, "abuse")
        for _ in range(6):
            assert support.get(s.port, "/abuse/trap")[0] == 500
        support.wait_for(lambda: support.metric(
            s.metrics(), "edgehost_requests_total", tenant="abuse", code="500") >= 46)
        after = _slow_calls(s, "abuse")
    assert after - before == 6, (before, after)
