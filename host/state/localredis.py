"""A throw-away ``redis-server`` on a free loopback port (Debian package
``redis-server``), for the tests and ``edgehost bench kv``: started in its
own directory, append-only file on (so a restart keeps the data), killed
when done."""

from __future__ import annotations

import pathlib
import shutil
import signal
import socket
import subprocess
import time

from edgehost.errors import StoreError

INSTALL_HINT = "apt-get install redis-server"


def redis_server_path() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if pathlib.Path("/usr/bin/redis-server").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRedis:
    """``with LocalRedis(dir) as r: r.url`` -- a server on 127.0.0.1:``r.port``."""

    def __init__(self, directory: str | pathlib.Path, port: int | None = None):
        self.dir = pathlib.Path(directory)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 20.0) -> LocalRedis:
        exe = redis_server_path()
        if exe is None:
            raise StoreError("redis-server", f"not installed; {INSTALL_HINT}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
             "--protected-mode", "no", "--daemonize", "no",
             "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log")
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] \
                    if log.exists() else []
                raise StoreError(self.url, f"redis-server exited at start: {' '.join(tail)}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise StoreError(self.url, f"redis-server did not answer within {timeout:g} s")

    def _answers(self) -> bool:
        cli = shutil.which("redis-cli")
        if cli:
            out = subprocess.run([cli, "-p", str(self.port), "ping"], capture_output=True,
                                 text=True, timeout=5)
            return out.stdout.strip() == "PONG"
        try:  # no redis-cli: the port accepting connections is the best sign
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server vanishes as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
