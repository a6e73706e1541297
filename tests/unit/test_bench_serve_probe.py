"""The search for the connection count that loads hello-c at 80 % of its peak
(``edgehost bench serve``), against synthetic servers: it must not stop on
an overshoot when the curve flattens near saturation."""

from __future__ import annotations

import pytest

from edgehost.bench.serve import _connections_for, _rounds_near

PEAK = 60_000.0


def saturating(per_conn: float, ceiling: float):
    """requests/s of c paced connections: linear until the server saturates."""
    return lambda c: min(c * per_conn, ceiling)


@pytest.mark.parametrize("per_conn, ceiling", [
    (900.0, 1.05 * PEAK),   # paced runs can beat the 32-connection peak
    (400.0, PEAK),          # slower answers: more connections needed
    (2500.0, 0.95 * PEAK),  # fast answers: few connections
])
def test_the_probe_lands_near_80_percent(per_conn, ceiling):
    rps = saturating(per_conn, ceiling)
    probed = []

    def measured(c):
        probed.append(c)
        return rps(c)

    conns = _connections_for(0.8, PEAK, 6, measured)
    assert conns in probed  # never a count that was not measured
    assert abs(rps(conns) / PEAK - 0.8) <= max(0.03, per_conn / PEAK), (conns, probed)


def test_one_probe_returns_the_first_guess():
    assert _connections_for(0.8, PEAK, 1, saturating(900.0, PEAK)) == 48


def _runs(rps_of):
    seen = []

    def run_with(conns):
        seen.append(conns)
        return {"rps": rps_of(conns), "p99_ms": 1.0}
    return run_with, seen


def test_full_runs_that_miss_80_percent_rescale_and_start_over():
    # the probes chose 40 connections, but full-length runs give 620 req/s each
    run_with, seen = _runs(lambda c: min(c * 620.0, PEAK))
    rows = _rounds_near(0.8, PEAK, 40, 3, True, run_with)
    assert len(rows) == 3 and seen[:3] == [40] * 3 and len(seen) == 6
    assert all(c == seen[-1] for c in seen[-3:]), seen   # every kept round at one count
    assert all(abs(r["rps"] / PEAK - 0.8) <= 0.08 for r in rows), seen


def test_full_runs_near_80_percent_are_kept_and_quick_runs_never_retry():
    run_with, seen = _runs(lambda c: c * 1000.0)
    assert len(_rounds_near(0.8, PEAK, 48, 3, True, run_with)) == 3 and seen == [48] * 3
    run_with, seen = _runs(lambda c: c * 100.0)
    assert len(_rounds_near(0.8, PEAK, 48, 1, False, run_with)) == 1 and seen == [48]


def test_rescaling_that_loads_less_keeps_the_rounds_closest_to_80_percent():
    # wrk itself the limit: past 40 connections each one more gives fewer req/s
    run_with, seen = _runs(lambda c: 36_000.0 if c <= 40 else max(1.0, 36_000.0 - 300 * (c - 40)))
    rows = _rounds_near(0.8, PEAK, 40, 3, True, run_with)
    assert seen[:3] == [40] * 3 and len(seen) > 3   # it tried more connections
    assert [r["rps"] for r in rows] == [36_000.0] * 3   # and kept the first rounds
