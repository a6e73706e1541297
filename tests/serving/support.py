"""Shared helpers of the serving tests: build the test tenants, run
``edgehost serve`` as a real process on a free port, talk HTTP to it, and a
load loop that records every response."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
TENANTS = HERE / "tenants"
REPO = HERE.parent.parent
START_TIMEOUT_S = 120


def _bench_tenants() -> pathlib.Path:
    from edgehost import bench

    return pathlib.Path(bench.__file__).resolve().parent / "tenants"


BENCH_TENANTS = _bench_tenants()  # the hostile "abuse" tenant ships with the benchmarks


def build_tenants(dest: pathlib.Path, names: list[str], examples: list[str] = ()) -> pathlib.Path:
    """Copies of the named test tenants (and bundled examples), built, in ``dest``."""
    from edgehost.toolchain import build

    for name in names:
        src = TENANTS / name if (TENANTS / name).is_dir() else BENCH_TENANTS / name
        shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("*.wasm"))
        build.build(dest / name)
    for name in examples:
        shutil.copytree(REPO / "examples" / name, dest / name,
                        ignore=shutil.ignore_patterns("*.wasm", "target"))
        build.build(dest / name)
    return dest


class Server:
    """``edgehost serve`` in a subprocess; ``with Server(dirs, ...) as s:``."""

    def __init__(self, *dirs, workers: int = 1, threads: int = 4, extra: list[str] = ()):
        self.args = [sys.executable, "-m", "edgehost", "serve", *map(str, dirs),
                     "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                     "--workers", str(workers), "--threads", str(threads), *extra]
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = None
        self.port = self.admin_port = 0

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("edgehost: serving"):
                break
        if not line.startswith("edgehost: serving"):
            self.stop()
            raise RuntimeError(f"server did not start: {self.log()}")
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])
        self.admin_port = int(line.split("admin http://127.0.0.1:")[1].split()[0])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def log_lines(self) -> list[dict]:
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def worker_pids(self) -> list[int]:
        st = json.loads(get(self.admin_port, "/status")[2])
        return [int(p) for p in st["workers"].values()]

    def metrics(self) -> str:
        return get(self.admin_port, "/metrics")[2].decode()


def get(port: int, path: str, *, method: str = "GET", body: bytes | None = None,
        headers: dict | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Load:
    """Threads sending ``path`` over kept-alive connections until stopped,
    recording each outcome (status or exception name) and latency."""

    def __init__(self, port: int, path: str, *, clients: int = 4, body: bytes | None = None):
        self.port, self.path, self.body = port, path, body
        self.results: list[tuple[object, float]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST" if self.body else "GET", self.path, body=self.body)
                r = conn.getresponse()
                r.read()
                outcome = r.status
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                conn = None
            self.results.append((outcome, time.perf_counter() - t0))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def failures(self) -> list:
        return [o for o, _ in self.results if o != 200]

    def p99_ms(self) -> float:
        lat = sorted(t for _, t in self.results)
        return lat[int(len(lat) * 0.99)] * 1e3 if lat else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(port: int, path: str, stop: threading.Event, *, body: bytes | None = None,
           clients: int = 2) -> list[threading.Thread]:
    """Threads requesting ``path`` in a loop (outcomes ignored) until ``stop``."""
    def run():
        while not stop.is_set():
            try:
                get(port, path, method="POST" if body else "GET", body=body, timeout=10)
            except OSError:
                pass

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads
