"""The search for the connection count that loads hello-c at 80 % of its peak
(``edgehost bench serve``), against synthetic servers: it must not stop on
an overshoot when the curve flattens near saturation."""

from __future__ import annotations

import pytest

from edgehost.bench.serve import _connections_for

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
