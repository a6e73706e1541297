"""The master process of ``edgehost serve``: sockets, workers, signals.

* Sockets: one SO_REUSEPORT listening socket per worker slot, all bound to
  the same address and held open by the master for its whole life. The
  kernel spreads connections over the slots; a slot's worker inherits its
  socket. When a worker dies, connections hashed to its slot wait in the
  socket's backlog (not refused) until the replacement accepts them; the
  port never closes while the master runs.
* Workers: spawned with ``python -m edgehost.serving.worker`` (exec, no
  fork of a process holding KVM or wasmtime state); each loads the tenants
  itself. A worker that exits unexpectedly is replaced on its slot.
* Signals: SIGTERM/SIGINT drain (workers stop accepting, finish in-flight
  requests, release their guests, exit); SIGHUP reloads the tenants (the
  master rebuilds what changed, validates the routes, then every worker
  loads the new set and swaps it in atomically); SIGUSR2 restarts the
  workers one slot at a time (the new worker accepts before the old drains).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from edgehost.errors import ConfigError, EdgehostError
from edgehost.serving import plan
from edgehost.serving.metrics import SharedStats
from edgehost.wasm_config import manifest as manifest_mod

log = logging.getLogger("edgehost.serving")
READY_TIMEOUT_S = 120.0
RESTART_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)


@dataclasses.dataclass
class ServeConfig:
    """Everything ``edgehost serve`` was told."""

    dirs: list[str]
    listen: tuple[str, int] = ("127.0.0.1", 8080)
    workers: int = 1
    threads: int = 4
    inline: bool = True             # proven-fast calls may run on the loop thread (dispatch.c)
    admin: tuple[str, int] | None = None
    request_timeout_ms: int = 10_000
    drain_timeout_ms: int = 30_000
    max_connections: int = 10_000
    # request line + headers (+64 B per field), 431 past it; Node.js's default.
    # It sizes libmicrohttpd's per-connection pool (server.c), which MHD zeroes
    # whole after every request: smaller than MHD's 32 KiB default on purpose
    header_limit: int = 16 << 10
    queue: int = 1024
    access_log: str | None = None
    log_level: str = "info"
    watch: bool = True              # hot reload: watch the tenant directories
    build_sources: bool = False     # edgehost watch: rebuild a tenant when its sources change
    guest_spin_us: int | None = None
    kv: str | None = None        # the tenants' kv store (--kv; None: $EDGEHOST_KV or lmdb)
    data: str | None = None      # the embedded store's data directory (--data)


def parse_addr(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``) -> (host, port); ConfigError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{what} must be HOST:PORT, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class WorkerProc:
    """One worker process of a slot, and the thread reading its events."""

    def __init__(self, master: Master, slot: int):
        self.master, self.slot = master, slot
        self.ready = threading.Event()
        self.failed: str | None = None
        self.expected_exit = False
        self.events: list[dict] = []
        sock = master.sockets[slot]
        spec = {
            "worker": slot, "listen_fd": sock.fileno(), "stats": str(master.stats.path),
            "threads": master.cfg.threads, "inline": master.cfg.inline, "queue": master.cfg.queue,
            "request_timeout_ms": master.cfg.request_timeout_ms,
            "drain_timeout_ms": master.cfg.drain_timeout_ms,
            "max_connections": master.cfg.max_connections,
            "header_limit": master.cfg.header_limit, "log_level": master.cfg.log_level,
            "guest_spin_us": master.cfg.guest_spin_us,
            "tenants": [str(d) for d in master.tenant_dirs],
            "kv": master.cfg.kv, "data": master.cfg.data,
        }
        if master.coordinator is not None:  # per-tenant versions the master decided
            spec["versions"] = master.coordinator.worker_specs()
        fds = [sock.fileno()]
        if master.access_fd is not None:
            spec["access_log_fd"] = master.access_fd
            fds.append(master.access_fd)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgehost.serving.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, pass_fds=fds, text=True, bufsize=1)
        self.send(spec)
        self.reader = threading.Thread(target=self._read, daemon=True,
                                       name=f"worker-{slot}-events")
        self.reader.start()

    def send(self, obj: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.events.append(ev)
            if ev.get("event") == "ready":
                self.ready.set()
            elif ev.get("event") == "failed":
                self.failed = ev.get("error", "worker failed")
                self.ready.set()
            self.master.on_event(self, ev)
        self.ready.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def drain(self) -> None:
        self.expected_exit = True
        self.send({"cmd": "drain"})


class Master:
    def __init__(self, cfg: ServeConfig, *, dirs_are_bundled: bool = False):
        self.cfg = cfg
        self.bundled = dirs_are_bundled
        self.sockets: list[socket.socket] = []
        self.workers: dict[int, WorkerProc] = {}
        self.retiring: list[WorkerProc] = []   # replaced, draining
        self.stats: SharedStats | None = None
        self.admin = None
        self.access_fd: int | None = None
        self.tenant_dirs: list = []
        self.port = 0
        self._signals: list[int] = []
        self._lock = threading.Lock()
        self.reload_results: list[dict] = []
        self.coordinator = None   # edgehost.reload.coordinator.Coordinator

    # -- tenants -------------------------------------------------------------------
    def plan_tenants(self) -> list:
        """Discover, build and validate the tenants (ConfigError on a problem)."""
        dirs = plan.prepare(plan.tenant_dirs(self.cfg.dirs), skip_unbuildable=self.bundled)
        if not dirs:
            raise ConfigError("no tenant could be built to serve")
        plan.routes([manifest_mod.load(d) for d in dirs])
        return dirs

    # -- sockets -------------------------------------------------------------------
    def open_sockets(self) -> None:
        host, port = self.cfg.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # A plain bind first: SO_REUSEPORT sockets of the same user would
        # otherwise silently share the port with another server.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            port = probe.getsockname()[1]
        for _ in range(self.cfg.workers):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                s.close()
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            s.listen(4096)
            s.set_inheritable(True)
            port = s.getsockname()[1]  # port 0: every slot binds the port the first got
            self.sockets.append(s)
        self.port = port

    # -- workers -------------------------------------------------------------------
    def spawn(self, slot: int) -> WorkerProc:
        w = WorkerProc(self, slot)
        got = w.ready.wait(READY_TIMEOUT_S)
        if not got or w.failed or not any(e.get("event") == "ready" for e in w.events):
            reason = w.failed or ("exited before it was ready" if got
                                  else "did not become ready in time")
            w.proc.kill()
            w.proc.wait()
            raise EdgehostError(f"worker {slot} could not start: {reason}")
        return w

    def on_event(self, w: WorkerProc, ev: dict) -> None:
        if self.coordinator is not None:
            self.coordinator.on_event(w, ev)
        if ev.get("event") in ("reloaded", "reload_failed"):
            with self._lock:
                self.reload_results.append({"worker": w.slot, **ev})

    def workers_up(self) -> dict[int, int]:
        return {slot: w.pid for slot, w in self.workers.items() if w.alive()}

    # -- signals -------------------------------------------------------------------
    def _on_signal(self, signum, _frame) -> None:
        self._signals.append(signum)

    def reload(self) -> None:
        """SIGHUP: re-plan, then every worker loads and swaps in the new set
        (with hot reload: every tenant directory is looked at, tenant by tenant)."""
        if self.coordinator is not None:
            threading.Thread(target=self.coordinator.rescan, daemon=True,
                             name="edgehost-sighup").start()
            return
        try:
            dirs = self.plan_tenants()
        except EdgehostError as exc:
            log.error("reload refused, previous tenants keep serving: %s", exc)
            return
        self.tenant_dirs = dirs
        for w in self.workers.values():
            w.send({"cmd": "reload", "tenants": [str(d) for d in dirs]})
        log.info("reload: %d tenants sent to %d workers", len(dirs), len(self.workers))

    def rolling_restart(self) -> None:
        """SIGUSR2: per slot, start a new worker, then drain the old one."""
        for slot in sorted(self.workers):
            old = self.workers[slot]
            try:
                new = self.spawn(slot)
            except EdgehostError as exc:
                log.error("restart of worker %d failed, the old one keeps serving: %s",
                          slot, exc)
                continue
            self.workers[slot] = new
            old.drain()
            self.retiring.append(old)
        log.info("workers restarted")

    def supervise(self) -> None:
        failures: dict[int, int] = {}
        while True:
            while self._signals:
                sig = self._signals.pop(0)
                if sig in (signal.SIGTERM, signal.SIGINT):
                    return
                if sig == signal.SIGHUP:
                    self.reload()
                elif sig == signal.SIGUSR2:
                    self.rolling_restart()
            self.retiring = [w for w in self.retiring if w.alive()]
            for slot, w in list(self.workers.items()):
                if w.alive():
                    continue
                code = w.proc.returncode
                log.error("worker %d (pid %d) exited with %s; replacing it", slot, w.pid, code)
                n = failures.get(slot, 0)
                time.sleep(RESTART_BACKOFF_S[min(n, len(RESTART_BACKOFF_S) - 1)])
                try:
                    self.workers[slot] = self.spawn(slot)
                    failures[slot] = 0
                except EdgehostError as exc:
                    failures[slot] = n + 1
                    log.error("%s", exc)
            time.sleep(0.05)

    def shutdown(self) -> None:
        procs = [*self.workers.values(), *self.retiring]
        for w in procs:
            w.drain()
        deadline = time.monotonic() + self.cfg.drain_timeout_ms / 1000 + 5
        for w in procs:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        for s in self.sockets:
            s.close()
        if self.admin is not None:
            self.admin.close()
        if self.stats is not None:
            self.stats.close(unlink=True)
        if self.coordinator is not None:
            self.coordinator.close()

    def run(self, announce) -> int:
        """Serve until SIGTERM/SIGINT; ``announce(text)`` prints the ready line."""
        # The listen address first: a wrong one is reported at once, not after
        # the tenants are built (the bundled examples take a while the first time).
        self.open_sockets()
        try:
            self.tenant_dirs = self.plan_tenants()
        except BaseException:
            for s in self.sockets:
                s.close()
            raise
        from edgehost.reload.coordinator import Coordinator

        self.coordinator = Coordinator(self, self.tenant_dirs, watch=self.cfg.watch,
                                       build_sources=self.cfg.build_sources)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
            signal.signal(sig, self._on_signal)
        self.stats = SharedStats.create(self.cfg.workers)
        if self.cfg.access_log == "-":
            self.access_fd = os.dup(sys.stdout.fileno())
        elif self.cfg.access_log:
            self.access_fd = os.open(self.cfg.access_log,
                                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for slot in range(self.cfg.workers):
                self.workers[slot] = self.spawn(slot)
            if self.cfg.admin:
                from edgehost.serving.admin import AdminServer

                self.admin = AdminServer(self.cfg.admin, self)
            names = sorted({n for w in self.workers.values() for e in w.events
                            if e.get("event") == "ready" for n in e.get("tenants", [])})
            host = self.cfg.listen[0]
            admin = (f", admin http://{self.admin.address[0]}:{self.admin.address[1]}"
                     if self.admin else "")
            self.coordinator.publish()
            self.coordinator.start()
            announce(f"edgehost: serving {len(names)} tenants ({', '.join(names)}) on "
                     f"http://{host}:{self.port} with {self.cfg.workers} worker(s){admin}")
            self.supervise()
        finally:
            self.shutdown()
        return 0
