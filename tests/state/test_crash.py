"""A worker killed with SIGKILL in the middle of writing: nothing it saw
committed is lost, the store is intact (every tenant's counters match its
data exactly: a value and its counters change in one transaction), and the
next worker writes as before (LMDB's writer lock is robust to its holder
dying)."""

from __future__ import annotations

import random
import time

import pytest

from tests.state.support import Worker

SIZE = 64


def _check_intact(backend, tenant: str) -> dict[bytes, bytes]:
    with backend.open() as store, store.namespace(tenant) as ns:
        data = {k: ns.get(k) for k in ns.keys()}
        assert None not in data.values()
        assert ns.stats() == (len(data), sum(len(k) + len(v) for k, v in data.items()))
    return data


@pytest.mark.parametrize("round_", range(3))
def test_kill9_mid_write_loses_nothing_committed(backend, round_):
    rng = random.Random(round_)
    w = Worker(backend.spec, backend.data, "crash")
    try:
        # Acknowledged writes: "ok i" is printed after kv_put(i) returned 0.
        w.send(f"write k 100000 {SIZE}")
        want = rng.randrange(50, 1500)
        acked = -1
        while acked < want:
            line = w.readline()
            assert line.startswith("ok"), line
            acked = int(line.split()[1])
        w.kill9()
    finally:
        w.close()
    data = _check_intact(backend, "crash")
    written = sorted(int(k.split(b"-")[1]) for k in data)
    assert written == list(range(len(written)))          # a prefix of the sequence ...
    assert len(written) > acked                           # ... holding every acknowledged one
    for i in (0, acked // 2, acked):
        assert data[f"k-{i}".encode()] == bytes([i % 251]) * SIZE


@pytest.mark.parametrize("round_", range(3))
def test_kill9_inside_a_tight_write_loop_leaves_the_store_intact(backend, round_):
    # Nearly all of this loop's time is inside write transactions (one WASM
    # call doing put after put), so the kill lands in one most of the time.
    rng = random.Random(100 + round_)
    w = Worker(backend.spec, backend.data, "spin", kv_max_bytes=1 << 30)
    try:
        assert w.ask(f"put {b'before'.hex()} {b'x'.hex()}") == "0"
        w.send(f"fill s {rng.choice([16, 700, 5000, 20000])}")
        time.sleep(rng.uniform(0.05, 0.6))
        w.kill9()
    finally:
        w.close()
    data = _check_intact(backend, "spin")
    assert data[b"before"] == b"x"
    after = Worker(backend.spec, backend.data, "spin", kv_max_bytes=1 << 30)
    try:
        assert after.ask(f"put {b'after'.hex()} {b'y'.hex()}") == "0"
        assert after.ask(f"get {b'before'.hex()}") == f"1 {b'x'.hex()}"
    finally:
        after.close()
    assert _check_intact(backend, "spin")[b"after"] == b"y"
