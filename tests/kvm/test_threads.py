"""One guest serves one call at a time whatever the number of calling
threads; separate guests run side by side."""

from __future__ import annotations

import random
import threading

import pytest

from edgehost import kernels
from tests.support import request

pytestmark = pytest.mark.kvm


def _hammer(g, seed, n, errors):
    rnd = random.Random(seed)
    try:
        for _ in range(n):
            data = rnd.randbytes(rnd.randrange(0, 3000))
            req, res, _keep = request(1, data)
            g.offload(req, res)
            if res.value != kernels.crc32c(data, isolation="inproc"):
                errors.append("wrong result")
    except Exception as exc:  # surfaced by the assertion below
        errors.append(repr(exc))


@pytest.mark.parametrize("shared", [True, False], ids=["one-guest", "guest-per-thread"])
def test_concurrent_callers(make_guest, shared):
    guests = [make_guest()] if shared else [make_guest() for _ in range(3)]
    errors: list[str] = []
    threads = [threading.Thread(target=_hammer, args=(guests[i % len(guests)], i, 400, errors))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(g.stats()["calls"] for g in guests) == 1200
