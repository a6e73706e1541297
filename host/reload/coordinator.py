"""``edgehost serve``'s master side of hot reload: it watches the tenant
directories, decides each tenant's version by content hash, and moves every
worker to it together -- or keeps the old one everywhere.

For a changed tenant directory (a watch report, SIGHUP, or a rescan):

1. (``edgehost watch``) the tenant is rebuilt if its sources changed; a build
   error is printed in full and the live version stays;
2. the files are read consistently and named by content (:mod:`.files`); the
   same version as the live one is nothing to do;
3. the module bytes are frozen (a copy in the master's version store, so every
   worker -- also one started later -- loads exactly these bytes), compiled
   through the module cache and checked against the ABI; its routes must not
   clash with the other tenants';
4. unless files finished meanwhile (then the report that follows judges
   them all), every worker prepares it (:mod:`.worker_side`: load,
   configure, golden requests) and answers; if any fails (or dies), every
   worker drops it and the rejection is one log line; else every worker
   commits it, each in one route-table swap. A lone worker is told both at
   once: it commits what it prepared, and a failure leaves it on the old
   version as an abort would (one round trip instead of two).

A deleted tenant directory unloads the tenant in every worker; a new one is
loaded like a change. One reload runs at a time; a worker starting during
one waits for it and then gets the versions it decided.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import tempfile
import threading
import time

from edgehost.errors import BuildError, ConfigError, EdgehostError, ToolchainMissing
from edgehost.reload import files, pipeline, snapshot, worker_side
from edgehost.reload.status import TenantStatus, rejection_line
from edgehost.reload.watcher import QUIET_S, Watcher
from edgehost.serving import plan
from edgehost.wasm_config import validate
from edgehost.wasm_config.manifest import MANIFEST_NAME

log = logging.getLogger("edgehost.serving")
PREPARE_TIMEOUT_S = 120.0
COMMIT_TIMEOUT_S = 30.0


def run_dir() -> pathlib.Path:
    """Where running servers publish their status (read by ``edgehost status``)."""
    from edgehost import paths

    rt = os.environ.get("XDG_RUNTIME_DIR")
    return pathlib.Path(rt) / "edgehost" if rt else paths.cache_dir() / "run"


def _to_stderr(text: str) -> None:
    """The compiler's output, verbatim."""
    import sys

    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


class Coordinator:
    """Hot reload for one :class:`~edgehost.serving.master.Master`."""

    def __init__(self, master, dirs: list[pathlib.Path], *, watch: bool = True,
                 build_sources: bool = False, report=None):
        self.m = master
        self.roots = list(master.cfg.dirs)
        self.build_sources = build_sources
        self.report = report or _to_stderr
        self.store = pathlib.Path(tempfile.mkdtemp(prefix="edgehost-versions-"))
        self.live: dict[str, dict] = {}              # name -> version spec (what workers run)
        self.manifests: dict[str, object] = {}       # name -> its live spec's parsed Manifest
        self._last_read: dict[pathlib.Path, files.TenantFiles] = {}   # dir -> latest reading
        self.status: dict[str, TenantStatus] = {}
        self.name_of: dict[pathlib.Path, str] = {}
        self._switch = threading.RLock()             # one reload at a time; spawns wait
        self._state = threading.RLock()              # live/status, read by any thread (never
        #                                              held while waiting for a worker)
        self._cond = threading.Condition()
        self._replies: dict[tuple, dict[int, dict]] = {}
        self._retried: set[tuple] = set()
        self._closed = False
        self.watcher = Watcher(self.roots, self._on_change) if watch else None
        self.status_file = None
        for d in dirs:
            self._initial(pathlib.Path(d))

    # -- start --------------------------------------------------------------------------------
    def _initial(self, d: pathlib.Path) -> None:
        """A tenant of the starting set: any problem is the server's start-up error."""
        try:
            tf = files.read(d)
        except files.NotReady:
            time.sleep(QUIET_S)
            tf = files.read(d)
        spec = self._freeze(tf)
        with self._state:
            self.live[tf.name] = spec
            self.manifests[tf.name] = tf.manifest
            self.name_of[d.resolve()] = tf.name
            st = self.status.setdefault(tf.name, TenantStatus(tf.name, str(d)))
            st.went_live(tf.version, tf.wasm_sha256, "configured", [], None, reload=False)

    def start(self) -> None:
        """Begin watching (after the workers are up) and publish the status file."""
        self.write_status()
        if self.watcher is not None:
            self.watcher.start()

    def worker_specs(self) -> list[dict]:
        """The versions a starting worker loads (waits for a reload under way)."""
        with self._switch:
            return [dict(s) for s in self.live.values()]

    # -- versions ----------------------------------------------------------------------------
    def _freeze(self, tf: files.TenantFiles) -> dict:
        """Check ``tf`` the master's way (compile via the cache, ABI) and keep
        its module bytes for the workers; ConfigError if it cannot serve."""
        from edgehost.runtime import engine as engine_mod
        from edgehost.runtime.tenant import check_memory_count

        live = self.live.get(tf.name)
        if live is not None and live["wasm_sha256"] == tf.wasm_sha256 and \
                self.manifests[tf.name].limits["fuel"] == tf.manifest.limits["fuel"]:
            # The module the workers run already passed (a manifest-only change):
            # only the manifest's routes are new, and the workers check them.
            return self._spec(tf, pathlib.Path(live["wasm_path"]))
        served = snapshot.served_module(tf.wasm)
        eng = engine_mod.shared(fuel=tf.manifest.limits["fuel"] > 0)
        try:
            module = eng.compile(served)
        except Exception as exc:  # noqa: BLE001 - wasmtime.WasmtimeError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"not a valid WebAssembly module: {first}",
                              path=str(tf.manifest.wasm)) from None
        handlers = validate.check_module(module, where=str(tf.manifest.wasm))
        check_memory_count(tf.wasm, str(tf.manifest.wasm))
        for route, export in tf.manifest.routes.items():
            if export not in handlers:
                raise ConfigError(f"route {route} names {export!r}, which is not a handler "
                                  f"export (handlers: {', '.join(handlers) or 'none'})",
                                  path=str(tf.manifest.path), field=f"routes.{route}")
        path = self.store / f"{tf.wasm_sha256}.wasm"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(tf.wasm)
            os.replace(tmp, path)
        return self._spec(tf, path)

    @staticmethod
    def _spec(tf: files.TenantFiles, path: pathlib.Path) -> dict:
        return {"name": tf.name, "dir": str(tf.directory), "version": tf.version,
                "manifest_path": str(tf.manifest.path), "manifest_text": tf.manifest_text,
                "manifest": worker_side.pack_manifest(tf.manifest),
                "wasm_path": str(path), "wasm_sha256": tf.wasm_sha256,
                "in_place_at": tf.in_place_at}

    def _prune_store(self) -> None:
        keep = {pathlib.Path(s["wasm_path"]).name for s in self.live.values()}
        for p in self.store.iterdir():
            if p.name not in keep:
                try:
                    p.unlink()
                except OSError:
                    pass

    # -- events from workers -------------------------------------------------------------------
    def on_event(self, w, ev: dict) -> None:
        kind = ev.get("event")
        if kind in ("prepared", "prepare_failed", "committed", "commit_failed"):
            stage = "commit" if kind.startswith("commit") else "prepare"
            key = (stage, ev.get("tenant"), ev.get("version"))
            with self._cond:
                if key in self._replies:
                    self._replies[key][w.slot] = ev
                    self._cond.notify_all()
        elif kind == "loaded":  # a starting worker's golden requests
            with self._state:
                st, live = self.status.get(ev.get("tenant")), self.live.get(ev.get("tenant"))
                if st is not None and live is not None and live["version"] == ev.get("version"):
                    st.checks = ev.get("checks", [])
        elif kind == "snapshot":
            with self._state:
                name = ev.get("tenant")
                st, live = self.status.get(name), self.live.get(name)
                if st is None or live is None or live["version"] != ev.get("version"):
                    return
                per = dict((st.snapshot or {}).get("workers", {}))
                per[str(w.slot)] = {k: v for k, v in ev.items()
                                    if k not in ("event", "tenant", "version")}
                states = [x.get("state") for x in per.values()]
                if "declined" in states:
                    state = "declined"
                elif len(states) >= len(self.m.workers) and set(states) == {"live"}:
                    state = "live"
                else:
                    state = "pending"
                st.snapshot = {"state": state, "workers": per}
                st.form = "snapshot" if state == "live" else "configured"
            self.write_status()

    def _ask(self, workers, stage: str, name: str, version: str, msg: dict | None,
             timeout: float) -> dict[int, dict]:
        """Send ``msg`` to ``workers`` (None: wait for the replies to one sent
        before); their replies by slot (a worker that died or did not answer
        in time has none)."""
        key = (stage, name, version)
        with self._cond:
            self._replies.setdefault(key, {})
        if msg is not None:   # None: the replies to a message sent before
            for w in workers:
                w.send(msg)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self._replies[key]
                waiting = [w for w in workers if w.slot not in got and w.alive()]
                if not waiting or time.monotonic() >= deadline:
                    return self._replies.pop(key)
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def _switch_to(self, spec: dict, tf: files.TenantFiles, timings: dict,
                   since: float) -> pipeline.Rejected | None:
        """Two-phase: every worker prepares ``spec``, then every worker commits
        it; a single failure aborts it everywhere (a lone worker does both on
        one message). Returns the rejection. ``timings`` (ms, see
        TenantStatus.went_live) gets the switch's steps; ``since``: monotonic
        time the reload was asked for."""
        name, version = spec["name"], spec["version"]
        workers = [w for w in self.m.workers.values() if w.alive()]
        t0 = time.perf_counter()
        m0 = time.monotonic()
        alone = len(workers) == 1
        if alone:   # its commit reply is awaited below, like a separate commit's
            with self._cond:
                self._replies[("commit", name, version)] = {}
        msg = {"cmd": "prepare", "spec": spec}
        if alone:   # it commits only in time: a late one is aborted like any missing reply
            msg.update(commit=True, commit_by=time.time() + PREPARE_TIMEOUT_S)
        got = self._ask(workers, "prepare", name, version, msg,
                        PREPARE_TIMEOUT_S + (COMMIT_TIMEOUT_S if alone else 0))
        failed = [ev for ev in got.values() if ev.get("event") != "prepared"]
        missing = [w for w in workers if w.slot not in got]
        if failed or missing:
            if alone:
                with self._cond:
                    self._replies.pop(("commit", name, version), None)
            for w in workers:
                w.send({"cmd": "abort", "tenant": name, "version": version})
            if failed:
                return pipeline.Rejected(name, failed[0].get("file", spec["wasm_path"]),
                                         failed[0].get("reason", "worker failed"))
            return pipeline.Rejected(name, spec["wasm_path"],
                                     f"worker {missing[0].slot} did not prepare it (it exited "
                                     "or timed out)")
        done = self._ask(workers, "commit", name, version,
                         None if alone else {"cmd": "commit", "tenant": name, "version": version},
                         COMMIT_TIMEOUT_S)
        bad = [ev for ev in done.values() if ev.get("event") != "committed"]
        if bad:  # cannot happen short of a worker's route table refusing: log, keep going
            log.error("tenant %s: worker could not commit version %s: %s", name, version,
                      bad[0].get("reason"))
        checks = next(iter(got.values()), {}).get("checks", []) if got else []
        done_at = time.monotonic()
        timings.update(
            prepare=max((float(ev.get("ms", 0.0)) for ev in got.values()), default=0.0),
            commit=max((float(ev.get("ms", 0.0)) for ev in done.values()), default=0.0),
            switch=(done_at - m0) * 1e3, total=(done_at - since) * 1e3)
        with self._state:
            self.live[name] = spec
            self.manifests[name] = tf.manifest
            st = self.status.setdefault(name, TenantStatus(name, spec["dir"]))
            st.directory = spec["dir"]
            st.went_live(version, spec["wasm_sha256"], "configured", checks,
                         spec["in_place_at"], reload=st.version is not None, timings=timings)
        log.info("tenant %s: version %s live in %d worker(s), %.1f ms after its files were in "
                 "place (switch %.1f ms)", name, version, len(workers), st.live_after_ms or 0,
                 (time.perf_counter() - t0) * 1e3)
        return None

    # -- reconcile -------------------------------------------------------------------------------
    def _on_change(self, d: pathlib.Path) -> None:
        self.reconcile(pathlib.Path(d), asked=self.watcher.last_event(d))

    def reconcile(self, d: pathlib.Path, *, asked: float | None = None) -> None:
        """Bring tenant directory ``d`` to its files' version (see the module
        docstring). ``asked``: time.monotonic() of the file event that asked
        for it (its reload's ``watch`` and ``total`` timings start there)."""
        if self._closed:
            return
        t0 = time.monotonic()
        d = d.resolve() if d.exists() else d
        generation = self.watcher.generation(d) if self.watcher else 0
        timings = {"watch": (t0 - asked) * 1e3} if asked is not None else {}
        with self._switch:
            if self.build_sources and (d / MANIFEST_NAME).is_file() and not self._build(d):
                return
            try:
                tf = pipeline.read(d, known=self._last_read.get(d))
            except FileNotFoundError:
                self._last_read.pop(d, None)
                self._unload_dir(d)
                return
            except files.NotReady:
                if self.watcher is not None:
                    self.watcher.mark(d, QUIET_S)
                return
            except pipeline.Rejected as rej:
                self._expect(d, None)
                if not self._newer_coming(d, generation):
                    self._reject(self.name_of.get(d, rej.tenant), str(d), rej)
                return
            self._expect(d, tf)
            self._last_read[d] = tf
            t1 = time.monotonic()
            timings["read"] = (t1 - t0) * 1e3
            name = tf.name
            live = self.live.get(name)
            if live is not None and live["version"] == tf.version:
                return
            if live is not None and pathlib.Path(live["dir"]) != d and \
                    (pathlib.Path(live["dir"]) / MANIFEST_NAME).is_file():
                self._reject(name, str(d), pipeline.Rejected(
                    name, str(tf.manifest.path), f"tenant name {name!r} is also used by "
                    f"{live['dir']}"))
                return
            rej = self._check_routes(tf)
            if rej is None:
                try:
                    spec = self._freeze(tf)
                except ConfigError as exc:
                    file, reason = pipeline._reason(exc, tf)
                    rej = pipeline.Rejected(name, file, reason)
            if rej is None and self.watcher is not None and \
                    self.watcher.newer_ready(d, generation):
                return   # files finished while these were read: that report takes them all
            if rej is None:
                timings["check"] = (time.monotonic() - t1) * 1e3
                rej = self._switch_to(spec, tf, timings, asked if "watch" in timings else t0)
            if rej is not None:
                if self._newer_coming(d, generation) or (
                        rej.maybe_truncated and self._maybe_incomplete(d, tf)):
                    return
                self._reject(name, str(d), rej)
                return
            previous = self.name_of.get(d)
            self.name_of[d] = name
            if previous is not None and previous != name:
                self._unload(previous)
            self._prune_store()
        self.write_status()

    def _expect(self, d: pathlib.Path, tf: files.TenantFiles | None) -> None:
        """Tell the watcher which files make ``d``'s version (``edgehost
        watch`` rebuilds from any file, so there every file counts)."""
        if self.watcher is not None and not self.build_sources:
            self.watcher.expect(d, None if tf is None else tf.version_files)

    def _newer_coming(self, d: pathlib.Path, generation: int) -> bool:
        return self.watcher is not None and self.watcher.generation(d) != generation

    def _maybe_incomplete(self, d: pathlib.Path, tf: files.TenantFiles) -> bool:
        key = (d, tf.version)
        if self.watcher is None or key in self._retried or time.time() - tf.in_place_at > 1.0:
            self._retried.discard(key)
            return False
        self._retried.add(key)
        self.watcher.mark(d, QUIET_S)
        return True

    def _check_routes(self, tf: files.TenantFiles) -> pipeline.Rejected | None:
        mans = [m for n, m in self.manifests.items() if n != tf.name]
        try:
            plan.routes([*mans, tf.manifest])
        except ConfigError as exc:
            file, reason = pipeline._reason(exc, tf)
            return pipeline.Rejected(tf.name, file, reason)
        return None

    def _build(self, d: pathlib.Path) -> bool:
        """``edgehost watch``: rebuild ``d`` if its sources changed. False (and
        the compiler's whole output reported) when the build failed."""
        from edgehost.toolchain import build

        try:
            out, rebuilt = build.build(d, report=self.report)
        except BuildError as exc:
            self.report(exc.output)
            name = self.name_of.get(d, d.name)
            self._reject(name, str(d), pipeline.Rejected(name, str(d), str(exc)))
            return False
        except ToolchainMissing as exc:
            log.warning("%s: cannot rebuild (%s); serving its existing module", d.name, exc)
            return True
        except ConfigError:
            return True   # the manifest's own error is reported by the read that follows
        if rebuilt:
            log.info("rebuilt %s", out)
        return True

    def _reject(self, name: str, d: str, rej: pipeline.Rejected) -> None:
        with self._state:
            st = self.status.setdefault(name, TenantStatus(name, d))
            live = self.live.get(name)
            if not st.failed(rej.file, rej.reason, None):
                return
        log.error("%s", rejection_line(name, rej.file, rej.reason,
                                       live["version"] if live else None))
        self.write_status()

    def _unload_dir(self, d: pathlib.Path) -> None:
        name = self.name_of.pop(d, None)
        if name is not None and name in self.live and pathlib.Path(self.live[name]["dir"]) == d:
            self._unload(name)
            self.write_status()

    def _unload(self, name: str) -> None:
        with self._state:
            spec = self.live.pop(name, None)
            self.manifests.pop(name, None)
            self.status.pop(name, None)
        for w in self.m.workers.values():
            if w.alive():
                w.send({"cmd": "unload", "tenant": name})
        if spec is not None:
            log.info("tenant %s: unloaded (its directory %s is gone)", name, spec["dir"])
        self._prune_store()

    def rescan(self, *, build: bool = True) -> None:
        """SIGHUP: every tenant directory now (built first where stale), the
        vanished ones unloaded."""
        try:
            dirs = plan.tenant_dirs(self.roots)
        except ConfigError as exc:
            log.error("reload refused, previous tenants keep serving: %s", exc)
            dirs = []
        if build:
            for d in dirs:
                self._build(d)
        for d in sorted({*dirs, *self.name_of}):
            self.reconcile(d)

    # -- status -----------------------------------------------------------------------------------
    def status_dict(self) -> dict:
        with self._state:
            return {n: s.as_dict() for n, s in sorted(self.status.items())}

    def write_status(self) -> None:
        """Publish this server's status for ``edgehost status`` (atomically)."""
        if self.status_file is None:
            return
        data = {"pid": os.getpid(), "listen": f"{self.m.cfg.listen[0]}:{self.m.port}",
                "admin": (f"{self.m.admin.address[0]}:{self.m.admin.address[1]}"
                          if self.m.admin else None),
                "dirs": [str(r) for r in self.roots], "watching": self.watcher is not None,
                "tenants": self.status_dict()}
        try:
            tmp = self.status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(tmp, self.status_file)
        except OSError as exc:
            log.warning("cannot write the status file %s: %s", self.status_file, exc.strerror)

    def publish(self) -> None:
        d = run_dir()
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.status_file = d / f"{os.getpid()}.json"
        except OSError as exc:
            log.warning("cannot publish status in %s: %s", d, exc.strerror)
            return
        self.write_status()

    def close(self) -> None:
        self._closed = True
        if self.watcher is not None:
            self.watcher.close()
        if self.status_file is not None:
            try:
                self.status_file.unlink()
            except OSError:
                pass
        shutil.rmtree(self.store, ignore_errors=True)


def live_servers() -> list[dict]:
    """Status of every ``edgehost serve`` running for this user (stale files removed)."""
    d = run_dir()
    out = []
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            pid = int(p.stem)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            try:
                p.unlink()
            except OSError:
                pass
            continue
        except PermissionError:
            pass
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


__all__ = ["Coordinator", "live_servers", "run_dir", "EdgehostError"]
