"""edgehost serve over real sockets: routing, the request a handler sees, the
response it sets, limits, keep-alive, timeouts, tenant failures, metrics."""

from __future__ import annotations

import http.client
import re
import socket
import time

import pytest

from tests.support import Server, get, metric, wait_for

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def server(serve_tenants):
    with Server(serve_tenants, extra=["--request-timeout", "1"]) as s:
        yield s


def test_routes_by_prefix_and_path(server):
    status, hdrs, body = get(server.port, "/hello-c/hello", method="POST", body=b"bob")
    assert status == 200 and body.startswith(b"hello, bob! (visit ")
    assert hdrs["content-type"] == "text/plain"
    status, _, body = get(server.port, "/probe/echo")
    assert status == 200 and b"path=/echo\n" in body  # the prefix is not the handler's


def test_routes_by_host(server):
    assert get(server.port, "/echo", headers={"Host": "api.example.test:8080"})[2] == b"vhost"
    assert get(server.port, "/echo", headers={"Host": "API.EXAMPLE.TEST"})[2] == b"vhost"
    status, hdrs, body = get(server.port, "/echo", headers={"Host": "other.test"})
    assert status == 404


def test_unknown_route_404_with_request_id(server):
    status, hdrs, body = get(server.port, "/nope/nothing")
    assert status == 404
    assert re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", hdrs["x-request-id"])
    assert hdrs["x-request-id"].encode() in body


def test_handler_sees_the_request(server):
    status, hdrs, body = get(server.port, "/probe/echo?a=1&b=%20x", method="PUT",
                             body=b"payload\x00bytes", headers={"X-Test": "Hi There"})
    assert status == 200
    assert body == (b"method=PUT\npath=/echo\nquery=a=1&b=%20x\nx-test=Hi There\n"
                    b"greeting=v1\nbody=payload\x00bytes")


def test_response_as_the_tenant_set_it(server):
    status, hdrs, body = get(server.port, "/probe/echo", headers={"x-status": "418"})
    assert status == 418
    assert hdrs["x-probe"] == "yes"
    assert int(hdrs["content-length"]) == len(body)


def test_keep_alive(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    peers = set()
    for i in range(5):
        conn.request("POST", "/probe/echo", body=f"n{i}".encode())
        r = conn.getresponse()
        assert r.status == 200 and r.read().endswith(f"body=n{i}".encode())
        peers.add(conn.sock.getsockname())
    assert len(peers) == 1  # one TCP connection served all five
    conn.close()


def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_413_before_the_body_is_read(server):
    # Content-Length over the limit (probe: 4096) and no body sent at all:
    # the answer comes without waiting for it: a 413, and not the request
    # timeout (1 s here) reaping a connection left waiting for the body.
    reaped = metric(server.metrics(), "edgehost_worker_reaped_total", worker="0")
    reply = _raw(server.port, b"POST /probe/echo HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1000000000\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413")
    assert metric(server.metrics(), "edgehost_worker_reaped_total", worker="0") == reaped
    # Chunked (no length up front): 413 at the body's end, nothing kept past
    # the limit; a body running on past 64 KiB more is cut off.
    chunk = b"1000\r\n" + b"a" * 0x1000 + b"\r\n"
    head = b"POST /probe/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert _raw(server.port, head + chunk * 2 + b"0\r\n\r\n").startswith(b"HTTP/1.1 413")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head)
        with pytest.raises(OSError):
            for _ in range(10_000):  # 40 MiB: the server hangs up long before
                s.sendall(chunk)
    # Within the limit it goes through.
    assert get(server.port, "/probe/echo", method="POST", body=b"a" * 4096)[0] == 200


def _trickle(port: int, head: bytes, byte: bytes) -> float | None:
    """Sends head, then one byte every 0.1 s; seconds until the server hangs
    up, or None if it still listens after 15 s (15x the 1 s request timeout:
    a wait for a server that never cuts the client off, not a speed)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        for _ in range(150):
            time.sleep(0.1)
            try:
                s.sendall(byte)
            except OSError:
                return time.monotonic() - t0
            s.setblocking(False)
            try:
                if s.recv(100) == b"":
                    return time.monotonic() - t0
            except BlockingIOError:
                pass
            except OSError:
                return time.monotonic() - t0
            s.setblocking(True)
    return None


def test_slow_client_is_cut_off(server):
    # Bytes keep arriving, but the whole request does not: cut off after the
    # request timeout (1 s here), headers or body alike -- by the timeout (the
    # reaped counter says so), however long a loaded machine takes to get there.
    reaped = metric(server.metrics(), "edgehost_worker_reaped_total", worker="0")
    took = _trickle(server.port, b"GET /probe/echo HTTP/1.1\r\nHost: x\r\n", b"X")
    assert took is not None, "a client trickling header bytes was never cut off"
    took = _trickle(server.port, b"POST /probe/echo HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 100\r\n\r\n", b"a")
    assert took is not None, "a client trickling body bytes was never cut off"
    assert metric(server.metrics(), "edgehost_worker_reaped_total", worker="0") >= reaped + 2


def test_oversized_headers_get_431_and_the_server_keeps_serving(server):
    """A request line and headers over the worker's 16 KiB header_limit
    (each field counting 64 bytes more than its name and value) are refused
    with 431, never read further: one large field, or many small ones that
    would fill the connection's memory with their records; 10 KB are served."""
    before = metric(server.metrics(), "edgehost_errors_total", tenant="probe",
                    cause="headers_too_large")
    many = lambda n: b"".join(b"a%d: b\r\n" % i for i in range(n))  # noqa: E731
    for fields, want in ((b"X-Big: " + b"a" * 10_000 + b"\r\n", b"200"),
                         (many(150), b"200"),
                         (b"X-Big: " + b"a" * 17_000 + b"\r\n", b"431"),
                         (many(260), b"431"),
                         (b"X-Big: " + b"a" * 40_000 + b"\r\n", b"431"),
                         (b"X-Big: " + b"a" * (1 << 20) + b"\r\n", b"431")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            try:
                s.sendall(b"GET /probe/echo HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before all of it was sent: the answer is still there
            status_line = s.recv(200).split(b"\r\n")[0]
        assert status_line.split()[1:2] == [want], (len(fields), status_line)
    assert get(server.port, "/probe/echo")[0] == 200
    # the two refused by the server's own count (not by libmicrohttpd's full pool)
    assert metric(server.metrics(), "edgehost_errors_total", tenant="probe",
                  cause="headers_too_large") == before + 2


def test_the_largest_headers_both_ways_fit_one_connection(server):
    """10 KB of request headers and a response carrying every header byte
    the tenant's quota allows (4 KiB) share the connection's 16 KiB pool:
    all of it is answered, nothing is cut."""
    status, hdrs, body = get(server.port, "/probe/fullheaders", headers={"X-Big": "a" * 10_000})
    assert status == 200
    n = int(body)
    assert n >= 15, n  # 4096 bytes of quota hold this many 200-byte values
    assert [hdrs.get(f"x-fill-{i:02d}") for i in range(n)] == [
        "".join(chr(97 + j % 26) for j in range(200))] * n


@pytest.mark.parametrize("path,status,cause", [
    ("/abuse/trap", 500, "trap"),
    ("/abuse/spin", 504, "deadline"),
    ("/abuse/bomb", 500, "memory"),
    ("/abuse/fail", 500, "tenant_status"),
])
def test_tenant_failure_is_a_5xx_with_request_id_and_a_log_line(server, path, status, cause):
    got, hdrs, body = get(server.port, path)
    assert got == status
    rid = hdrs["x-request-id"]
    assert rid.encode() in body and body.startswith(b"edgehost: ")
    for _ in range(50):
        lines = [ln for ln in server.log_lines() if ln.get("request_id") == rid]
        if lines:
            break
        time.sleep(0.05)
    assert lines and lines[0]["tenant"] == "abuse" and lines[0]["cause"] == cause
    assert lines[0]["status"] == status and lines[0]["level"] == "error"
    # ... and everyone keeps being served.
    assert get(server.port, "/hello-c/hello")[0] == 200


def test_metrics_format_and_counts(server):
    before = server.metrics()
    n0 = metric(before, "edgehost_requests_total", tenant="probe", code="200")
    h0 = metric(before, "edgehost_hostcalls_total", tenant="probe")
    for _ in range(7):
        assert get(server.port, "/probe/echo")[0] == 200
    get(server.port, "/abuse/trap")
    time.sleep(0.3)  # gauges refresh every 100 ms; counters are immediate
    text = server.metrics()
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')
    family = None
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
        if line.startswith("# TYPE "):
            family = line.split()[2]
        elif not line.startswith("#"):  # a family's samples follow its own TYPE line
            name = line.split("{")[0].split()[0]
            assert name in (family, f"{family}_bucket", f"{family}_sum", f"{family}_count"), \
                (line, family)
    assert metric(text, "edgehost_requests_total", tenant="probe", code="200") == n0 + 7
    assert metric(text, "edgehost_hostcalls_total", tenant="probe") >= h0 + 7 * 5
    assert metric(text, "edgehost_errors_total", tenant="abuse", cause="trap") >= 1
    count = metric(text, "edgehost_request_duration_seconds_count", tenant="probe")
    inf = metric(text, "edgehost_request_duration_seconds_bucket", tenant="probe", le="+Inf")
    assert count == inf >= n0 + 7
    assert metric(text, "edgehost_instances", tenant="probe") >= 1
    assert metric(text, "edgehost_instance_memory_bytes", tenant="probe") > 0
    assert metric(text, "edgehost_worker_up", worker="0") == 1
    # the worker's instance slots, published by its control plane every second
    wait_for(lambda: metric(server.metrics(), "edgehost_instance_slots", worker="0") > 0)
    text = server.metrics()
    assert 1 <= metric(text, "edgehost_instance_slots_used", worker="0") <= metric(
        text, "edgehost_instance_slots", worker="0")
    assert "# TYPE edgehost_instance_evictions_total counter" in text
    assert "# TYPE edgehost_guest_resets_total counter" in text
    assert "# TYPE edgehost_offload_seconds_total counter" in text


def test_access_log(serve_tenants, tmp_path):
    import json

    log = tmp_path / "access.log"
    with Server(serve_tenants, extra=["--access-log", str(log)]) as s:
        assert get(s.port, "/probe/echo?x=1")[0] == 200
        assert get(s.port, "/nope")[0] == 404
        for _ in range(100):
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["tenant"], x["status"], x["target"]) for x in lines[:2]] == [
        ("probe", 200, "/probe/echo?x=1"), ("", 404, "/nope")]
    assert all(x["us"] >= 0 and x["request_id"] for x in lines)
