"""Several worker processes on one store: every worker sees every committed
write at once, concurrent writers lose nothing, and a tenant's quota holds
across all of them together."""

from __future__ import annotations

import pytest

from tests.state.support import Worker


@pytest.fixture
def workers(backend):
    started: list[Worker] = []

    def start(name: str = "shared", **limits) -> Worker:
        w = Worker(backend.spec, backend.data, name, **limits)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def test_each_worker_sees_the_others_writes_at_once(workers):
    a, b = workers(), workers()
    for i in range(20):
        # A write acknowledged by one worker is read by the other right after.
        assert a.ask(f"put {b'k'.hex()} {bytes([i]).hex()}") == "0"
        assert b.ask(f"get {b'k'.hex()}") == f"1 {bytes([i]).hex()}"
        assert b.ask(f"put {b'j'.hex()} {bytes([i, i]).hex()}") == "0"
        assert a.ask(f"get {b'j'.hex()}") == f"2 {bytes([i, i]).hex()}"


def test_concurrent_writers_lose_nothing(backend, workers):
    n, size = 400, 24
    a, b = workers(), workers()
    a.send(f"write a {n} {size}")
    b.send(f"write b {n} {size}")
    for w in (a, b):
        lines = [w.readline() for _ in range(n + 1)]
        assert lines[-1] == "done" and all(ln.startswith("ok") for ln in lines[:-1]), lines[-3:]
    with backend.open() as store, store.namespace("shared") as ns:
        keys = ns.keys()
        assert len(keys) == 2 * n
        assert ns.stats() == (2 * n, sum(len(k) + size for k in keys))
        for who in "ab":
            for i in (0, n // 2, n - 1):
                assert ns.get(f"{who}-{i}".encode()) == bytes([i % 251]) * size


def test_quota_holds_across_workers(backend, workers):
    quota, size = 20_000, 100
    a = workers("quota", kv_max_bytes=quota)
    b = workers("quota", kv_max_bytes=quota)
    a.send(f"fill a {size}")
    b.send(f"fill b {size}")
    filled = [a.readline().split(), b.readline().split()]
    for word, _puts, refusal in filled:
        assert word == "filled" and refusal == "-3", filled   # QUOTA ended both
    entry = 5 + size                                          # 5-byte key + value
    total = sum(int(puts) for _, puts, _ in filled)
    assert total == quota // entry                            # together, exactly the budget
    with backend.open() as store, store.namespace("quota") as ns:
        count, used = ns.stats()
        assert count == total and used == total * entry <= quota
        assert sum(len(k) + size for k in ns.keys()) == used
