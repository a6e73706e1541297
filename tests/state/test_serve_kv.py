"""``edgehost serve`` with the kv store: several workers share one tenant's
state (the hello tenant's visit count does not depend on which worker
answers), an operator reads it while the server runs, and a kv server
going away is a 503 -- not a hang, not an answer without state -- until it
returns."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edgehost.state.localredis import LocalRedis, redis_server_path
from tests.support import Server, build_tenants, get, metric


@pytest.fixture(scope="module")
def hello(tmp_path_factory, c_toolchain):
    return build_tenants(tmp_path_factory.mktemp("kv-serve"), [], ["hello-c"]) / "hello-c"


def _visit(port: int) -> tuple[int, bytes]:
    status, _, body = get(port, "/hello-c/hello", method="POST", body=b"w")
    return status, body


def test_workers_share_the_visit_count(hello, tmp_path):
    data = str(tmp_path / "data")
    with Server(hello, workers=2, threads=2, extra=["--data", data]) as srv:
        for n in range(1, 13):   # a new connection each: both workers answer some
            assert _visit(srv.port) == (200, f"hello, w! (visit {n})".encode())
        out = subprocess.run([sys.executable, "-m", "edgehost", "kv", "get", "hello-c",
                              b"visits".hex(), "--hex", "--data", data],
                             capture_output=True, check=True, timeout=60).stdout
        assert out == b"0c000000\n"
    # The state outlives the server.
    with Server(hello, extra=["--data", data]) as srv:
        assert _visit(srv.port) == (200, b"hello, w! (visit 13)")


def test_bad_store_options_are_one_line(hello, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgehost", "serve", str(hello), "--kv", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.startswith("edgehost: error: ") and proc.stderr.count("\n") == 1
    assert "unknown kv store" in proc.stderr


@pytest.mark.skipif(redis_server_path() is None,
                    reason="REDIS-SERVER MISSING -- serving on Redis NOT TESTED")
def test_redis_down_is_503_and_recovers(hello, tmp_path):
    server = LocalRedis(tmp_path / "redis").start()
    url = f"{server.url}?timeout_ms=300&connect_timeout_ms=300&retry_ms=100"
    try:
        with Server(hello, extra=["--kv", url]) as srv:
            assert _visit(srv.port) == (200, b"hello, w! (visit 1)")
            server.stop()
            status, body = _visit(srv.port)
            assert status == 503 and b"kv store unavailable" in body
            assert metric(srv.metrics(), "edgehost_errors_total", tenant="hello-c",
                          cause="store") >= 1
            assert any("kv store unavailable" in str(ln.get("msg", ln))
                       for ln in srv.log_lines()), srv.log()
            server.start()
            deadline = time.monotonic() + 30
            while (answer := _visit(srv.port))[0] != 200:
                assert answer[0] == 503 and time.monotonic() < deadline, answer
                time.sleep(0.05)
            assert answer == (200, b"hello, w! (visit 2)")
    finally:
        server.stop()
