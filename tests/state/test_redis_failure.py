"""Redis going away: the kv imports answer UNAVAILABLE within the configured
timeouts (never a hang), the call fails as a store failure (a 5xx for
HTTP) whatever the handler did with the code, calls that do not touch kv
keep working, and the store recovers when the server returns."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import pytest

from edgehost.errors import StoreUnavailable
from edgehost.state import open_store
from edgehost.state.localredis import LocalRedis, free_port, redis_server_path
from tests.state.support import get, kv_tenant, put

pytestmark = pytest.mark.skipif(redis_server_path() is None,
                                reason="REDIS-SERVER MISSING -- Redis failures NOT TESTED")
OPTS = "timeout_ms=300&connect_timeout_ms=300&retry_ms=200"


def _bounded(fn, limit_s: float = 30.0):
    """Run fn on a thread; fail (instead of hanging the suite) if it does not end."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(limit_s)
    assert not th.is_alive(), f"the call did not return within {limit_s} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _no_kv(t) -> int:
    """A call of the tenant that does not touch kv (op 3 is no import)."""
    return struct.unpack("<i", t.call("kv", struct.pack("<iii", 3, 0, 0)).body)[0]


@contextlib.contextmanager
def _fragile_tenant(tmp_path, value: bytes):
    """(server, store, tenant) on a Redis of its own, with key b"k" = value
    stored; the server is stopped on the way out, whatever the test did."""
    server = LocalRedis(tmp_path / "r").start()
    try:
        with open_store(f"{server.url}?{OPTS}") as store:
            t = kv_tenant(store, "fragile")
            assert put(t, b"k", value) == 0
            yield server, store, t
    finally:
        server.stop()


def test_server_down_is_a_store_failure_and_it_recovers(tmp_path):
    with _fragile_tenant(tmp_path, b"before") as (server, store, t):
        server.stop()  # clean stop: the AOF has "before"
        with pytest.raises(StoreUnavailable) as err:
            _bounded(lambda: get(t, b"k"))
        assert err.value.kind == "store"
        assert "kv store unavailable" in str(err.value) and "127.0.0.1" in str(err.value)
        # While it is down: failing fast, and kv-free calls still work.
        with pytest.raises(StoreUnavailable):
            _bounded(lambda: put(t, b"k", b"x"))
        assert _no_kv(t) == 0
        assert store.health() is not None
        server.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                assert get(t, b"k") == b"before"
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "no recovery after the server came back"
                time.sleep(0.05)
        assert put(t, b"k", b"after") == 0 and get(t, b"k") == b"after"
        assert store.health() is None


def test_server_killed_mid_use(tmp_path):
    with _fragile_tenant(tmp_path, b"v") as (server, _store, t):
        server.kill()
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                _bounded(lambda: put(t, b"k", b"v2"))


def test_a_server_that_never_answers_times_out(tmp_path):
    # Accepts connections (the kernel's backlog does) but never replies.
    port = free_port()
    sink = socket.socket()
    sink.bind(("127.0.0.1", port))
    sink.listen(16)
    try:
        with open_store(f"redis://127.0.0.1:{port}/0?{OPTS}") as store:
            t = kv_tenant(store, "stuck")
            t0 = time.monotonic()
            with pytest.raises(StoreUnavailable, match="kv store unavailable"):
                _bounded(lambda: get(t, b"k"))
            assert time.monotonic() - t0 >= 0.2          # it did wait for the timeout ...
    finally:
        sink.close()


def test_nothing_listening_fails_at_once(tmp_path):
    with open_store(f"redis://127.0.0.1:{free_port()}/0?{OPTS}") as store:
        t = kv_tenant(store, "nobody")
        with pytest.raises(StoreUnavailable, match="Connection refused"):
            _bounded(lambda: put(t, b"k", b"v"))
