"""One server worker: a process that loads the tenants, then runs the C
server (native_modules/serving) on a listening socket it inherited.

Started by the master with ``python -m edgehost.serving.worker`` (spawned,
never forked: KVM and wasmtime handles do not survive fork), it builds its
instances and KVM guests itself. It talks to the master over its standard
streams: stdin carries one JSON spec line, then commands (``reload``,
``drain``); stdout carries events (``ready``, ``reloaded``, ``reload_failed``,
``failed``). stdin closing (the master died) means drain.

Reload: the new tenant set is loaded beside the old one (compiled,
instantiated, configured), then the route table is swapped atomically on the
loop thread; each old version is freed once no route table and no request
in flight uses it (reference counts in C). A set that fails to load changes
nothing.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import sys
import time

from edgehost import state
from edgehost.errors import ConfigError, EdgehostError
from edgehost.native import ffi, lib
from edgehost.serving import plan
from edgehost.serving.metrics import SharedStats
from edgehost.wasm_config import manifest as manifest_mod

log = logging.getLogger("edgehost.serving")
SWAP_TIMEOUT_MS = 10_000


class JsonLines(logging.Handler):
    """Log records as one JSON object per line (tenant lines name their tenant)."""

    def __init__(self, worker: int):
        super().__init__()
        self.worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        line = {"ts": round(record.created, 6), "level": record.levelname.lower(),
                "worker": self.worker}
        if record.name.startswith("edgehost.tenant."):
            line["tenant"] = record.name[len("edgehost.tenant."):]
        line["msg"] = record.getMessage()
        try:
            sys.stderr.write(json.dumps(line) + "\n")
            sys.stderr.flush()
        except OSError:
            pass


def _err() -> object:
    return ffi.new("char[512]")


# Test hook, not a setting: the guest image every served tenant's KVM guest
# boots instead of the bundled one, read from the environment of `edgehost
# serve` (its workers inherit it). tests/reliability/kvm/
# test_serve_guest_fault.py serves with an image whose kernel faults. Neither
# a manifest nor the CLI can set it; a worker that honours it says so in its
# log (main()).
TEST_GUEST_IMAGE_ENV = "EDGEHOST_TEST_GUEST_IMAGE"


def guest_options(guest_spin_us: int | None) -> dict:
    """The Tenant(guest_options=...) a served tenant's own guest gets: the
    server's idle spin (--guest-spin-us) when one was set, and the test
    hook's image (TEST_GUEST_IMAGE_ENV) when that is set."""
    opts = {} if guest_spin_us is None else {"idle_spin_us": guest_spin_us}
    if os.environ.get(TEST_GUEST_IMAGE_ENV):
        opts["image"] = os.environ[TEST_GUEST_IMAGE_ENV]
    return opts


GUEST_COUNTERS = ("calls", "creates", "resets", "faults", "timeouts")


def _guest_counters(v) -> dict | None:
    """The counters of ``v``'s own KVM guest, None without one (or closed)."""
    guest = v.tenant.guest
    if guest is None or guest.closed:
        return None
    return guest.stats()


class Version:
    """One loaded tenant version: its Tenant (module, limits, guest), its C
    instance pool and its served state (eh_svc)."""

    def __init__(self, srv, man: manifest_mod.Manifest, *, threads: int, queue: int,
                 guest_spin_us: int | None = None, tenant=None):
        from edgehost.runtime.tenant import Tenant

        self.name = man.name
        if tenant is None:  # hot reload passes the tenant it loaded and checked
            tenant = Tenant(man, guest_options=guest_options(guest_spin_us))
        self.tenant = tenant
        self.handlers = list(dict.fromkeys(man.routes.values()))
        names = [ffi.new("char[]", h.encode()) for h in self.handlers]
        err = _err()
        pool = lib.eh_pool_new(self.tenant.native, ffi.new("char *[]", names) if names
                               else ffi.NULL, len(names), max(1, threads),
                               int(man.instance == "fresh"), err, 512)
        if pool == ffi.NULL:
            raise ConfigError(ffi.string(err).decode(errors="replace"), path=str(man.path))
        self.pool = pool
        svc = lib.eh_svc_new(srv, pool, man.name.encode(), man.limits["max_body_bytes"],
                             man.limits["concurrency"], queue, err, 512)
        if svc == ffi.NULL:
            lib.eh_pool_free(pool)
            raise ConfigError(ffi.string(err).decode(errors="replace"), path=str(man.path))
        self.svc = svc
        self.index = {h: i for i, h in enumerate(self.handlers)}

    def users(self) -> int:
        return lib.eh_svc_users(self.svc)

    def close(self) -> None:
        """Free the C side, then the tenant (its instances first). Only when
        :meth:`users` is 0 and no route table can hand the version out."""
        if self.svc is not None:
            lib.eh_svc_free(self.svc)
            lib.eh_pool_free(self.pool)
            self.svc = self.pool = None
            self.tenant.close()


class Worker:
    def __init__(self, spec: dict):
        self.spec = spec
        self.index = spec["worker"]
        self.threads = spec["threads"]
        self.queue = spec["queue"]
        self.stats = SharedStats(spec["stats"])
        self.slot = self.stats.worker(self.index)
        cfg = ffi.new("eh_srv_config *")
        cfg.listen_fd = spec["listen_fd"]
        cfg.threads = self.threads
        cfg.no_inline = 0 if spec.get("inline", True) else 1
        cfg.request_timeout_ms = spec["request_timeout_ms"]
        cfg.drain_timeout_ms = spec["drain_timeout_ms"]
        cfg.max_connections = spec["max_connections"]
        cfg.header_limit = spec["header_limit"]
        cfg.worker = self.index
        cfg.error_log_fd = 2
        cfg.access_log_fd = spec.get("access_log_fd", -1)
        cfg.stats = self.slot
        err = _err()
        srv = lib.eh_srv_new(cfg, err, 512)
        if srv == ffi.NULL:
            raise EdgehostError(ffi.string(err).decode(errors="replace"))
        self.srv = srv
        self.current: dict[str, Version] = {}
        self._guest_base: dict[str, dict] = {}  # name -> counters of closed versions' guests
        self._engines: dict[int, object] = {}  # every engine its tenants used (slot counters)
        self.retired: list[Version] = []
        self.draining = False

    # -- tenant sets -------------------------------------------------------------
    def load(self, dirs: list[str]) -> None:
        """Load the tenants in ``dirs`` and swap them in (all or nothing)."""
        mans = [manifest_mod.load(d) for d in dirs]
        rts = plan.routes(mans)
        versions: dict[str, Version] = {}
        table = ffi.NULL
        try:
            for man in mans:
                versions[man.name] = Version(self.srv, man, threads=self.threads,
                                             queue=self.queue,
                                             guest_spin_us=self.spec.get("guest_spin_us"))
            table = lib.eh_routes_new()
            if table == ffi.NULL:
                raise EdgehostError("out of memory building the route table")
            for rt in rts:
                v = versions[rt.tenant]
                if lib.eh_routes_add(table, rt.host.encode(), rt.path.encode(), rt.strip,
                                     v.svc, v.index[rt.export]) != 0:
                    raise ConfigError(f"cannot add route {rt.host or '*'}{rt.path}")
            if lib.eh_srv_set_routes(self.srv, table, SWAP_TIMEOUT_MS) != 0:
                table = ffi.NULL  # owned by the server now, installed or superseded
                raise EdgehostError("the server did not take the new route table in time")
            table = ffi.NULL
        except BaseException:
            if table != ffi.NULL:
                lib.eh_routes_free(table)
            for v in versions.values():
                if v.users() == 0:
                    v.close()
                else:
                    self.retired.append(v)
            raise
        self.retired.extend(self.current.values())
        self.current = versions
        self.retire()

    def retire(self) -> None:
        """Free old versions nothing uses any more; each leaves its KVM guest,
        which goes with its last user."""
        keep = []
        for v in self.retired:
            if v.users() != 0:
                keep.append(v)
                continue
            guest, st = v.tenant.guest, _guest_counters(v)
            v.close()  # drains its pending log lines, leaves its guest
            if st and guest.closed:  # its guest went with it: its counters outlive it
                acc = self._guest_base.setdefault(v.name, dict.fromkeys(GUEST_COUNTERS, 0))
                for k in GUEST_COUNTERS:   # (publish_guest_stats)
                    acc[k] += st[k]
        self.retired = keep

    # -- periodic control-plane work ---------------------------------------------
    def drain_tenant_logs(self) -> None:
        for v in [*self.current.values(), *self.retired]:
            if v.svc is not None and lib.eh_tenant_log_pending(v.tenant.native):
                v.tenant.drain_logs()

    def publish_guest_stats(self) -> None:
        """Per tenant name, the counters of every guest its versions have had:
        a reload whose guest settings changed boots a new guest, and that
        must not reset the exported totals; versions sharing a guest (a
        config-only reload, the snapshot form) count it once."""
        totals = {name: dict(base) for name, base in self._guest_base.items()}
        seen = set()
        for v in [*self.current.values(), *self.retired]:
            guest = v.tenant.guest
            if guest is None or id(guest) in seen:
                continue
            seen.add(id(guest))
            st = _guest_counters(v)
            if st:
                acc = totals.setdefault(v.name, dict.fromkeys(GUEST_COUNTERS, 0))
                for k in GUEST_COUNTERS:
                    acc[k] += st[k]
        for v in self.current.values():
            st = totals.get(v.name)
            if st is None:
                continue
            t = self.slot.tenant[lib.eh_svc_slot(v.svc)]
            t.guest_calls = st["calls"]
            t.guest_creates = st["creates"]
            t.guest_resets = st["resets"]
            t.guest_faults = st["faults"]
            t.guest_timeouts = st["timeouts"]

    def publish_slot_stats(self) -> None:
        """The instance slots of the engines this worker's tenants have used
        (engines live as long as the process, so the counters only grow)."""
        from edgehost.runtime.tenant import slot_stats

        for v in self.current.values():
            self._engines.setdefault(id(v.tenant.engine), v.tenant.engine)
        sums = dict.fromkeys(("capacity", "live", "evicted", "refused"), 0)
        for engine in self._engines.values():
            for k, n in slot_stats(engine).items():
                sums[k] += n
        self.slot.slots = sums["capacity"]
        self.slot.slots_live = sums["live"]
        self.slot.slots_evicted = sums["evicted"]
        self.slot.slots_refused = sums["refused"]

    # -- life ----------------------------------------------------------------------
    def start(self) -> None:
        err = _err()
        if lib.eh_srv_start(self.srv, err, 512) != 0:
            raise EdgehostError(ffi.string(err).decode(errors="replace"))

    def drain(self) -> None:
        if not self.draining:
            self.draining = True
            lib.eh_srv_drain(self.srv)

    def stopped(self) -> bool:
        return lib.eh_srv_wait(self.srv, 0) == 0

    def close(self) -> None:
        from edgehost.isolation import guest as guests

        lib.eh_srv_stop(self.srv)  # joins the threads, releases the route tables
        for v in [*self.current.values(), *self.retired]:
            v.close()
        self.current, self.retired = {}, []
        lib.eh_srv_free(self.srv)
        self.srv = None
        guests.close_default()  # each tenant closed its own guest above
        self.stats.close()


class _Lines:
    """The master's lines (spec, then commands), read straight from the pipe:
    every line that arrived is handed out at once (a buffered reader would
    keep the second of two lines that came together from select() until
    more bytes came)."""

    def __init__(self, fd: int):
        self.fd, self.buf, self.eof = fd, b"", False
        self.pending: list[str] = []

    def fill(self) -> None:
        """One read of what the pipe holds (blocks until something or EOF)."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.eof = True
            return
        *done, self.buf = (self.buf + chunk).split(b"\n")
        self.pending += [x.decode() for x in done if x.strip()]

    def first(self) -> str:
        while not self.pending and not self.eof:
            self.fill()
        return self.pending.pop(0) if self.pending else ""

    def take(self) -> list[str]:
        out, self.pending = self.pending, []
        return out


def emit(event: str, **fields) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the master handles ^C for the group
    signal.signal(signal.SIGHUP, signal.SIG_IGN)   # reloads come from the master
    lines = _Lines(sys.stdin.fileno())
    spec = json.loads(lines.first() or "{}")
    logging.basicConfig(level=spec.get("log_level", "INFO").upper(), handlers=[
        JsonLines(spec.get("worker", -1))])
    switch = None
    if os.environ.get(TEST_GUEST_IMAGE_ENV):
        log.warning("test hook %s is set: every tenant's KVM guest boots %s",
                    TEST_GUEST_IMAGE_ENV, os.environ[TEST_GUEST_IMAGE_ENV])
    try:
        w = Worker(spec)
        # Every tenant of this worker keeps its state in the store --kv/--data name.
        state.set_default_store(state.open_store(spec.get("kv"), spec.get("data")))
        if "versions" in spec:  # the master decides each tenant's version (hot reload)
            from edgehost.reload.worker_side import Switch

            switch = Switch(w, emit)
            switch.start(spec["versions"])
        else:
            w.load(spec["tenants"])
        w.start()
    except EdgehostError as exc:
        emit("failed", error=str(exc))
        return 1
    term = []
    signal.signal(signal.SIGTERM, lambda *_: term.append(1))
    emit("ready", pid=os.getpid(), tenants=sorted(w.current))
    sel = selectors.DefaultSelector()
    sel.register(lines.fd, selectors.EVENT_READ)
    next_stats = 0.0
    while True:
        if term:
            w.drain()
        if w.draining and w.stopped():
            break
        if not lines.pending and sel.select(timeout=0.1):  # (none registered after EOF)
            lines.fill()
            if lines.eof:  # the master is gone
                sel.unregister(lines.fd)
                w.drain()
        for line in lines.take():
            cmd = json.loads(line)
            if cmd.get("cmd") == "drain":
                w.drain()
            elif switch is not None and not w.draining and switch.handle(cmd):
                pass
            elif cmd.get("cmd") == "reload" and not w.draining:
                t0 = time.perf_counter()
                try:
                    w.load(cmd["tenants"])
                except EdgehostError as exc:
                    log.error("reload failed, previous tenants keep serving: %s", exc)
                    emit("reload_failed", error=str(exc))
                else:
                    emit("reloaded", tenants=sorted(w.current),
                         ms=round((time.perf_counter() - t0) * 1e3, 1))
        w.drain_tenant_logs()
        if switch is not None:
            switch.poll()
        w.retire()
        if time.monotonic() >= next_stats:
            w.publish_guest_stats()
            w.publish_slot_stats()
            next_stats = time.monotonic() + 1.0
    w.drain_tenant_logs()
    if switch is not None:
        switch.close()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
