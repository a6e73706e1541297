"""``edgehost bench reload``: hot reload, measured.

* ``latency``: ``edgehost serve`` (1 worker, its own module cache) answers a
  new version how long after the file is in place -- a module never seen
  (compiled), a module another process compiled before (from the on-disk
  cache), and a ``[config]``-only change -- while clients keep sending
  requests; every failed request is counted. Measured from the moment the
  writer's rename returns to the first answer of the new version on a
  kept-alive connection (polled); the server's own figure (file mtime to
  swap) is shown next to it, and the note gives the medians of the steps the
  server timed itself (``edgehost status``'s ``timings``: watch, read, check,
  the worker's prepare and commit, the master's whole switch, total). The
  ``[config]``-only change once more with the tenant under ``isolation =
  "kvm"`` (where /dev/kvm is usable): the new version keeps the live
  version's guest, so the row notes the guests booted during its reloads.
* ``snapshot``: a tenant whose ``edgehost_configure`` takes >= 10 ms (it
  builds a 1 MiB table): how long a new instance takes to start configured
  (instantiate + configure) and from the snapshot (instantiate).
* ``fresh``: the etag-c example (CRC32C of the body, in process) at 64 B and
  1 MiB: a request on a reused instance, on a new instance of the
  configured module, and with ``instance = "fresh"`` once the snapshot is
  live (used instances put back in place: the write-tracking rewrite; the
  row's note says whether the rewrite took the module), through the
  C instance pool ``edgehost serve`` runs (acquire, handle, release) and
  through ``Tenant.call``; and once more in a subprocess whose engine keeps
  freed memory resident (``EDGEHOST_POOL_KEEP_RESIDENT``).

Targets (issue 14): <= 100 ms (compiled), <= 20 ms (from the cache), <= 5 ms
(config only), zero failed requests; <= 50 us per snapshot instance; fresh
<= 2x reused at 64 B and <= 1.3x at 1 MiB. Each row says its target and
whether this run met it.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import click

from edgehost.bench import _reload_tenant as tenant_src
from edgehost.bench.common import COUNT, emit, served_metrics

TARGETS_MS = {"compiled": 100.0, "cached": 20.0, "config": 5.0}
SNAPSHOT_TARGET_US = 50.0
FRESH_TARGET = {64: 2.0, 1 << 20: 1.3}


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cpu() -> str:
    from edgehost.bench import machine

    try:
        rec = machine.record()
    except Exception:  # noqa: BLE001 - a label only
        return "?"
    return f"{rec['cpu_model']} (family {rec['family']} model {rec['model']})"


def _row(section: str, case: str, value: float, unit: str, *, target=None, note: str = "",
         **extra) -> dict:
    ok = None if target is None else value <= target
    return {"bench": "reload", "impl": section, "case": case, "value": round(value, 3),
            "unit": unit, "target": target, "met": ok, "note": note, **extra}


# -- latency, through edgehost serve --------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, root: pathlib.Path, env: dict):
        self.port, self.admin = _free_port(), _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgehost", "serve", str(root), "--listen",
             f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin}", "--workers", "1",
             "--threads", "2", "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if "serving" not in line:
            self.close()
            raise click.ClickException(f"bench reload: the server did not start: "
                                       f"{self.proc.stderr.read()[-2000:]}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def status(self) -> dict:
        c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        c.request("GET", "/status")
        return json.loads(c.getresponse().read())["versions"]

    def settled(self, name: str, timeout: float = 60) -> None:
        """Wait until the live version's snapshot form is in (no compile running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status().get(name, {})
            if (st.get("snapshot") or {}).get("state") in ("live", "declined"):
                return
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class _Clients:
    """Threads sending requests in a loop; failures counted."""

    def __init__(self, port: int, path: str, n: int = 2):
        self.port, self.path = port, path
        self.ok = self.failed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append(str(r.status))
            except (OSError, http.client.HTTPException) as exc:
                self.failed += 1
                self.errors.append(type(exc).__name__)
                conn = None
            time.sleep(0.001)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


def _poll_until(port: int, path: str, want: bytes, timeout: float = 30) -> float:
    """perf_counter() of the first answer equal to ``want``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            conn.request("GET", path)
            body = conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        if body == want:
            return time.perf_counter()
    raise click.ClickException(f"bench reload: {want!r} never answered")


def _replace(path: pathlib.Path, data: bytes) -> float:
    """Write like a deploy tool (temp + rename); perf_counter() when in place."""
    fd, tmp = tempfile.mkstemp(prefix=".bench-", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return time.perf_counter()


def _precompile(modules: list[bytes], env: dict) -> None:
    """Compile ``modules`` (as served: instrumented) in another process, into
    the server's module cache: what a restart or a redeploy finds there."""
    code = ("import sys\nfrom edgehost.reload import snapshot\n"
            "from edgehost.runtime import engine\n"
            "for p in sys.argv[1:]:\n"
            "    engine.shared().compile(snapshot.served_module(open(p, 'rb').read()))\n")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, m in enumerate(modules):
            p = pathlib.Path(tmp) / f"{i}.wasm"
            p.write_bytes(m)
            paths.append(str(p))
        subprocess.run([sys.executable, "-c", code, *paths], check=True, env=env)


def latency_rows(rounds: int) -> list[dict]:
    work = pathlib.Path(tempfile.mkdtemp(prefix="edgehost-bench-reload-"))
    env = {**os.environ, "EDGEHOST_MODULE_CACHE": str(work / "cache")}
    try:
        root = work / "tenants"
        d = root / "gen"
        d.mkdir(parents=True)
        (d / "gen.wasm").write_bytes(tenant_src.module("v0"))
        (d / "edgehost.toml").write_text(tenant_src.manifest("gen"))
        cached = [tenant_src.module(f"c{i}") for i in range(rounds)]
        _precompile(cached, env)
        srv = _Server(root, env)
        clients = _Clients(srv.port, "/gen/hello")
        out: dict[str, list[tuple[float, float]]] = {"compiled": [], "cached": [], "config": []}
        steps: dict[str, list[dict]] = {case: [] for case in out}
        try:
            srv.settled("gen")
            greeting = "g1"
            for i in range(rounds):
                for case in ("compiled", "cached", "config"):
                    if case == "compiled":
                        data, want = tenant_src.module(f"n{i}"), \
                            tenant_src.answer(f"n{i}", greeting)
                        path = d / "gen.wasm"
                    elif case == "cached":
                        data, want = cached[i], tenant_src.answer(f"c{i}", greeting)
                        path = d / "gen.wasm"
                    else:
                        greeting = f"k{i}"
                        data = tenant_src.manifest("gen", greeting=greeting).encode()
                        want = tenant_src.answer(f"c{i}", greeting)
                        path = d / "edgehost.toml"
                    t0 = _replace(path, data)
                    t1 = _poll_until(srv.port, "/gen/hello", want)
                    st = srv.status()["gen"]
                    server_ms = st.get("live_after_ms") or float("nan")
                    out[case].append(((t1 - t0) * 1e3, server_ms))
                    steps[case].append(st.get("timings") or {})
                    srv.settled("gen")
        finally:
            clients.close()
            srv.close()
        rows = []
        labels = {"compiled": "changed module, compiled", "cached": "changed module, "
                  "from the compiled cache", "config": "[config]-only change"}
        for case, vals in out.items():
            rows.append(_row("latency", labels[case], statistics.median(v for v, _ in vals), "ms",
                             target=TARGETS_MS[case],
                             server_ms=round(statistics.median(s for _, s in vals), 2),
                             rounds=len(vals), note=_steps_note(steps[case])))
        kvm_rows, kvm_load = _kvm_config_rows(rounds, env)
        rows += kvm_rows
        rows += _c_module_rows(rounds, env)
        loads = [clients, *([kvm_load] if kvm_load else [])]
        failed = sum(c.failed for c in loads)
        rows.append(_row("latency", "failed requests during the reloads", failed,
                         "requests", target=0, requests=sum(c.ok for c in loads) + failed,
                         note=", ".join(sorted({e for c in loads for e in c.errors}))[:200]))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


STEPS = ("watch", "read", "check", "prepare", "commit", "switch", "total")


def _guest_boots(srv: _Server) -> float:
    """The tenant gen's edgehost_guest_boots_total in the server's /metrics."""
    boots = served_metrics(srv.admin, "gen", "edgehost_guest_boots_total")
    got = boots["edgehost_guest_boots_total"]
    return float("nan") if got is None else got


def _kvm_config_rows(rounds: int, env: dict) -> tuple[list[dict], _Clients | None]:
    """The [config]-only case with the tenant in a KVM guest (same load, same
    clock as the in-process one); the note counts the guests booted. Also
    returns its load clients (their failures count with the others)."""
    from edgehost.isolation import kvm_status

    case = "[config]-only change, isolation kvm"
    ok, reason = kvm_status()
    if not ok:
        return [_row("latency", case, float("nan"), "ms", note=f"left out: {reason}")], None
    work = pathlib.Path(tempfile.mkdtemp(prefix="edgehost-bench-reload-kvm-"))
    try:
        d = work / "tenants" / "gen"
        d.mkdir(parents=True)
        (d / "gen.wasm").write_bytes(tenant_src.module("v0"))
        (d / "edgehost.toml").write_text(tenant_src.manifest("gen", isolation="kvm"))
        srv = _Server(work / "tenants", env)
        clients = _Clients(srv.port, "/gen/hello")
        vals, steps = [], []
        try:
            srv.settled("gen")
            time.sleep(1.1)   # the worker publishes guest counters every second
            boots0 = _guest_boots(srv)
            for i in range(rounds):
                greeting = f"q{i}"
                t0 = _replace(d / "edgehost.toml",
                              tenant_src.manifest("gen", greeting=greeting, isolation="kvm")
                              .encode())
                t1 = _poll_until(srv.port, "/gen/hello", tenant_src.answer("v0", greeting))
                st = srv.status()["gen"]
                vals.append(((t1 - t0) * 1e3, st.get("live_after_ms") or float("nan")))
                steps.append(st.get("timings") or {})
                srv.settled("gen")
            time.sleep(1.1)
            booted = _guest_boots(srv) - boots0
        finally:
            clients.close()
            srv.close()
        note = _steps_note(steps) + f"; guests booted in {len(vals)} reloads: {booted:.0f}"
        return [_row("latency", case, statistics.median(v for v, _ in vals), "ms",
                     target=TARGETS_MS["config"],
                     server_ms=round(statistics.median(s for _, s in vals), 2),
                     rounds=len(vals), note=note)], clients
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _steps_note(rounds: list[dict]) -> str:
    """Medians of the server's own step timings (TenantStatus.timings), ms."""
    parts = []
    for k in STEPS:
        xs = [r[k] for r in rounds if k in r]
        if xs:
            parts.append(f"{k} {statistics.median(xs):.2f}")
    return "server ms: " + ", ".join(parts) if parts else ""


def _with_nonce(wasm: bytes, nonce: str) -> bytes:
    """``wasm`` plus a custom section: other bytes (a new version to compile),
    the same code."""
    from edgehost.reload import wasm_binary

    name = b"edgehost.bench.nonce"
    body = wasm_binary.uleb(len(name)) + name + nonce.encode()
    return wasm + b"\0" + wasm_binary.uleb(len(body)) + body


def _c_module_rows(rounds: int, env: dict) -> list[dict]:
    """A real C tenant (hello-c): each round a module never compiled before
    (same code, another custom section), timed by the server itself from the
    file's mtime to the version live in the worker (its answer does not tell
    versions apart)."""
    from edgehost import paths
    from edgehost.errors import EdgehostError
    from edgehost.reload import files
    from edgehost.toolchain import build

    work = pathlib.Path(tempfile.mkdtemp(prefix="edgehost-bench-reload-c-"))
    try:
        d = work / "tenants" / "hello-c"
        shutil.copytree(paths.examples_dir() / "hello-c", d,
                        ignore=shutil.ignore_patterns("*.wasm"))
        try:
            build.build(d)
        except EdgehostError as exc:
            return [_row("latency", "changed C module (hello-c), compiled", float("nan"), "ms",
                         note=f"left out: {exc}")]
        base = (d / "hello-c.wasm").read_bytes()
        srv = _Server(work / "tenants", {**env, "EDGEHOST_MODULE_CACHE": str(work / "cache")})
        vals = []
        try:
            srv.settled("hello-c")
            for i in range(rounds):
                data = _with_nonce(base, f"{time.time_ns()}-{i}")
                _replace(d / "hello-c.wasm", data)
                want = files.read(d).version
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    st = srv.status().get("hello-c", {})
                    if st.get("version") == want:
                        vals.append(st["live_after_ms"])
                        break
                    time.sleep(0.005)
                srv.settled("hello-c")
        finally:
            srv.close()
        return [_row("latency", "changed C module (hello-c), compiled (server's clock)",
                     statistics.median(vals) if vals else float("nan"), "ms",
                     target=TARGETS_MS["compiled"], rounds=len(vals),
                     note="file mtime to live in the worker")]
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- snapshot start ------------------------------------------------------------------------------
def _instance_us(tenant, n: int = 100, repeat: int = 7) -> tuple[float, float]:
    """Median (new, free) microseconds of a native instance of ``tenant``
    (the ``n`` are alive at once: at most the tenant's limits.instances share)."""
    from edgehost.native import ffi, lib

    err, kind = ffi.new("char[512]"), ffi.new("int *")
    news, frees = [], []
    for _ in range(repeat):
        insts = []
        t0 = time.perf_counter()
        for _ in range(n):
            insts.append(lib.eh_instance_new(tenant.native, kind, err, 512))
        t1 = time.perf_counter()
        for i in insts:
            lib.eh_instance_free(i)
        t2 = time.perf_counter()
        news.append((t1 - t0) / n * 1e6)
        frees.append((t2 - t1) / n * 1e6)
    return statistics.median(news), statistics.median(frees)


def snapshot_rows(rounds_of_work: int) -> list[dict]:
    from edgehost.reload import files, pipeline

    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp) / "index"
        d.mkdir()
        (d / "index.wasm").write_bytes(tenant_src.module("i1", rounds=rounds_of_work))
        (d / "edgehost.toml").write_text(tenant_src.manifest("index"))
        loaded = pipeline.load(files.read(d))
        configure = []
        for _ in range(5):
            t0 = time.perf_counter()
            inst = loaded.tenant.instance()   # instantiate + _initialize + configure
            configure.append((time.perf_counter() - t0) * 1e6)
            from edgehost.reload.snapshot import _free

            _free(inst)
        snap = pipeline.snapshot_form(loaded)
        same = snap.tenant.call("table", b"").body == loaded.tenant.call("table", b"").body
        new_us, free_us = _instance_us(snap.tenant)
        cfg_us = statistics.median(configure)
        rows = [
            _row("snapshot", "instance start, configured (instantiate + configure)", cfg_us,
                 "us", note="the configure builds a 1 MiB table"),
            _row("snapshot", "instance start, from the snapshot", new_us, "us",
                 target=SNAPSHOT_TARGET_US, free_us=round(free_us, 2),
                 speedup=round(cfg_us / new_us, 1),
                 note="same answer as configured" if same else "ANSWER DIFFERS"),
        ]
        snap.close()
        loaded.close()
        return rows


# -- fresh vs reused -----------------------------------------------------------------------------
def _etag_dir(work: pathlib.Path) -> pathlib.Path | None:
    from edgehost import paths
    from edgehost.errors import EdgehostError
    from edgehost.toolchain import build

    d = work / "etag-c"
    shutil.copytree(paths.examples_dir() / "etag-c", d, ignore=shutil.ignore_patterns("*.wasm"))
    text = (d / "edgehost.toml").read_text()
    (d / "edgehost.toml").write_text(text.replace('kernels = ["crc32c"]',
                                                  'kernels = ["crc32c"]\nisolation = "inproc"'))
    try:
        build.build(d)
    except EdgehostError:
        return None
    return d


def _pools_us(pools: list[tuple], body: bytes, n: int, repeat: int) -> list[float]:
    """Median microseconds per request through each (tenant, fresh) pair's own
    C pool (``eh_pool``, as the server's), in ``repeat`` rounds that take
    the pools in turn -- so a machine that slows down meanwhile slows all of
    them alike -- after one warm-up round (which makes the instances)."""
    from edgehost.native import ffi, lib

    err, kind = ffi.new("char[512]"), ffi.new("int *")
    names = [ffi.new("char[]", b"etag")]
    made = [lib.eh_pool_new(t.native, ffi.new("char *[]", names), 1, 4, int(fresh), err, 512)
            for t, fresh in pools]
    st = ffi.new("int32_t *")
    acquire, handle, release = lib.eh_pool_acquire, lib.eh_instance_handle_parts, \
        lib.eh_pool_release
    blen = len(body)
    xs: list[list[float]] = [[] for _ in made]
    try:
        for r in range(repeat + 1):
            for i, pool in enumerate(made):
                t0 = time.perf_counter()
                for _ in range(n):
                    inst = acquire(pool, kind, err, 512)
                    handle(inst, 0, b"POST", 4, b"/etag", 5, b"", 0, b"\x80", 1, body, blen, st)
                    release(pool, inst, 0)
                if r:
                    xs[i].append((time.perf_counter() - t0) / n * 1e6)
    finally:
        for pool in made:
            lib.eh_pool_free(pool)
    return [statistics.median(x) for x in xs]


def _calls_us(tenants: list, body: bytes, n: int, repeat: int) -> list[float]:
    """Median microseconds per Tenant.call of each tenant, rounds in turn."""
    xs: list[list[float]] = [[] for _ in tenants]
    for _ in range(repeat):
        for i, tenant in enumerate(tenants):
            t0 = time.perf_counter()
            for _ in range(n):
                tenant.call("etag", body)
            xs[i].append((time.perf_counter() - t0) / n * 1e6)
    return [statistics.median(x) for x in xs]


def fresh_rows(quick: bool) -> list[dict]:
    from edgehost.kernels.crc32c import crc32c
    from edgehost.reload import files, pipeline
    from edgehost.runtime import engine as engine_mod

    with tempfile.TemporaryDirectory() as tmp:
        d = _etag_dir(pathlib.Path(tmp))
        if d is None:
            return [_row("fresh", "etag-c", float("nan"), "us",
                         note="C toolchain missing: edgehost setup")]
        reuse = pipeline.load(files.read(d))
        man = d / "edgehost.toml"
        man.write_text(man.read_text().replace('name = "etag-c"',
                                               'name = "etag-c"\ninstance = "fresh"', 1))
        fresh = pipeline.load(files.read(d))
        snap = pipeline.snapshot_form(fresh)
        kr = engine_mod.POOL_KEEP_RESIDENT
        rows = []
        repeat = 3 if quick else 7
        for size, n in ((64, 400 if quick else 3000), (1 << 20, 10 if quick else 60)):
            body = os.urandom(size)
            want = f"{crc32c(body):08x}"
            assert snap.tenant.call("etag", body).body.decode() == want
            base, cfg, sn = _pools_us([(reuse.tenant, False), (fresh.tenant, True),
                                       (snap.tenant, True)], body, n, repeat)
            size_s = "64 B" if size == 64 else "1 MiB"
            rows.append(_row("fresh", f"{size_s}: reused instance (C pool)", base, "us",
                             keep_resident=kr))
            rows.append(_row("fresh", f"{size_s}: fresh, configured module (C pool)", cfg, "us",
                             ratio=round(cfg / base, 2), keep_resident=kr))
            rows.append(_row("fresh", f"{size_s}: fresh from the snapshot (C pool) / reused",
                             sn / base, "x", target=FRESH_TARGET[size], us=round(sn, 2),
                             keep_resident=kr, note=snap.snapshot.fresh_note))
            cb, cs = _calls_us([reuse.tenant, snap.tenant], body, max(5, n // 2), repeat)
            rows.append(_row("fresh", f"{size_s}: fresh from the snapshot / reused, "
                             "Tenant.call", cs / cb, "x", target=FRESH_TARGET[size],
                             us=round(cs, 2), reused_us=round(cb, 2), keep_resident=kr,
                             note=snap.snapshot.fresh_note))
        for x in (snap, fresh, reuse):
            x.close()
        return rows


def _fresh_keep_resident(quick: bool, keep: int) -> list[dict]:
    env = {**os.environ, "EDGEHOST_POOL_KEEP_RESIDENT": str(keep)}
    args = [sys.executable, "-m", "edgehost", "bench", "reload", "--json", "--only", "fresh"]
    proc = subprocess.run(args + (["--quick"] if quick else []), capture_output=True, text=True,
                          env=env, timeout=600)
    if proc.returncode != 0:
        return [_row("fresh", f"keep_resident={keep}", float("nan"), "us",
                     note=proc.stderr.strip()[-200:])]
    return json.loads(proc.stdout[proc.stdout.index("["):])


@click.command("reload")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--quick", is_flag=True, help="Fewer rounds (for bench all --quick).")
@click.option("--rounds", default=7, show_default=True, type=COUNT,
              help="Reloads per latency case.")
@click.option("--only", type=click.Choice(["latency", "snapshot", "fresh"]), default=None,
              help="One section.")
def command(as_json, quick, rounds, only):
    """Hot reload: latency to a new version (compiled, cached, config-only) under load,
    snapshot instance start, fresh vs reused instance per request."""
    rows: list[dict] = []
    if only in (None, "latency"):
        rows += latency_rows(3 if quick else rounds)
    if only in (None, "snapshot"):
        rows += snapshot_rows(8_000_000)
    if only in (None, "fresh"):
        rows += fresh_rows(quick)
        if only is None and not quick:  # another configuration, not the default
            rows += [r | {"impl": "fresh, keep resident 2 MiB"}
                     for r in _fresh_keep_resident(quick, 2 << 20)]
    for r in rows:
        r.setdefault("cpu", _cpu())
        r.setdefault("load", _load())
    emit(rows, as_json, title=f"reload (medians; load {_load()})")
