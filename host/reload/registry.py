"""The tenants of one process, kept at their latest good version while their
directories change (the Python API of hot reload; ``edgehost serve`` does
the same across worker processes, see :mod:`.coordinator`).

    with Registry("tenants/") as reg:          # watches by default
        reg.call("hello-c", "hello", b"you")   # the live version answers
        reg.status()["hello-c"]["version"]

A change is loaded beside the live version (:mod:`.pipeline`: compile through
the module cache, ABI check, configure, golden requests) and swapped in
atomically: a call that started on the old version finishes on it (each
version counts its calls in flight and is closed after the last), new calls
get the new one, and a call never fails because of a swap. A version that
fails any step is rejected with one log line and the live version stays. A
deleted tenant directory unloads its tenant (after its calls in flight); a
new one loads. After a version goes live, its snapshot form (:mod:`.snapshot`)
is built on a background thread and swapped in the same way.
"""

from __future__ import annotations

import logging
import pathlib
import queue
import threading
import time

from edgehost.errors import EdgehostError, TenantNotFound
from edgehost.reload import files, pipeline
from edgehost.reload.status import TenantStatus, rejection_line
from edgehost.reload.watcher import QUIET_S, Watcher
from edgehost.wasm_config.manifest import MANIFEST_NAME

log = logging.getLogger("edgehost.reload")
FRESH_WRITE_S = 1.0   # a module this young that does not parse may still be being written


class _Live:
    """A version taking calls, with its count of calls in flight."""

    def __init__(self, loaded: pipeline.Loaded):
        self.loaded = loaded
        self.refs = 0
        self.retired = False
        self.closed = False


class Registry:
    """Tenants loaded from ``dirs`` (each a tenant or a folder of tenants),
    hot-reloaded while ``watch`` (default on). ``snapshot``: serve each
    version from its configured-state snapshot once built (default on).
    ``close()`` stops watching and frees every version."""

    def __init__(self, *dirs, watch: bool = True, snapshot: bool = True):
        if not dirs:
            raise EdgehostError("Registry needs at least one directory")
        self._roots = [pathlib.Path(d).resolve() for d in dirs]
        for r in self._roots:
            if not r.is_dir():
                raise TenantNotFound(str(r), "no such directory")
        self._lock = threading.Condition(threading.RLock())
        self._live: dict[str, _Live] = {}
        self._dir_of: dict[str, pathlib.Path] = {}
        self._name_of: dict[pathlib.Path, str] = {}
        self._status: dict[str, TenantStatus] = {}
        self._retries: set[tuple[pathlib.Path, str]] = set()
        self._last_read: dict[pathlib.Path, files.TenantFiles] = {}   # dir -> latest reading
        self._snapshot = snapshot
        self._snap_q: queue.Queue = queue.Queue()
        self._snap_thread = None
        self._closed = False
        self.watcher = Watcher(self._roots, self._on_change)
        for d in self.watcher.tenant_dirs():
            self._reconcile(d)
        if snapshot:
            self._snap_thread = threading.Thread(target=self._snapshots, daemon=True,
                                                 name="edgehost-snapshots")
            self._snap_thread.start()
            with self._lock:
                for name, live in self._live.items():
                    self._snap_q.put((name, live, 0.0))
        if watch:
            self.watcher.start()

    # -- calls ------------------------------------------------------------------
    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._live)

    def tenant(self, name: str):
        """The live version's Tenant (for direct use; :meth:`call` also
        keeps the version alive until the call returns)."""
        with self._lock:
            live = self._live.get(name)
            if live is None:
                raise TenantNotFound(name, "not loaded")
            return live.loaded.tenant

    def call(self, name: str, export: str, body: bytes = b"", **kw):
        """``Tenant.call`` on the live version of ``name``."""
        with self._lock:
            live = self._live.get(name)
            if live is None:
                raise TenantNotFound(name, "not loaded")
            live.refs += 1
        try:
            return live.loaded.tenant.call(export, body, **kw)
        finally:
            with self._lock:
                live.refs -= 1
                self._maybe_free(live)

    def status(self) -> dict[str, dict]:
        """Every tenant's record (see :class:`~.status.TenantStatus`)."""
        with self._lock:
            return {n: s.as_dict() for n, s in sorted(self._status.items())}

    def version(self, name: str) -> str | None:
        with self._lock:
            live = self._live.get(name)
            return live.loaded.version if live else None

    def form(self, name: str) -> str | None:
        with self._lock:
            live = self._live.get(name)
            return live.loaded.form if live else None

    # -- reloads ------------------------------------------------------------------
    def reload(self) -> None:
        """Look at every tenant directory now (what a watch event would do)."""
        known = set(self._name_of)
        for d in sorted(set(self.watcher.tenant_dirs()) | known):
            self._reconcile(d)

    def _on_change(self, d: pathlib.Path) -> None:
        self._reconcile(pathlib.Path(d), asked=self.watcher.last_event(d))

    def _reconcile(self, d: pathlib.Path, *, asked: float | None = None) -> None:
        if self._closed:
            return
        d = pathlib.Path(d)
        t0 = time.monotonic()
        generation = self.watcher.generation(d)
        timings = {"watch": (t0 - asked) * 1e3} if asked is not None else {}
        try:
            tf = pipeline.read(d, known=self._last_read.get(d))
        except FileNotFoundError:
            self._last_read.pop(d, None)
            self._unload_dir(d)
            return
        except files.NotReady:
            self.watcher.mark(d, QUIET_S)
            return
        except pipeline.Rejected as rej:
            self.watcher.expect(d, None)
            if self.watcher.generation(d) == generation:
                self._reject(self._name_of.get(d, rej.tenant), d, rej, None)
            return
        self.watcher.expect(d, tf.version_files)
        self._last_read[d] = tf
        t1 = time.monotonic()
        timings["read"] = (t1 - t0) * 1e3
        name = tf.name
        with self._lock:
            other = self._dir_of.get(name)
            if other is not None and other != d and (other / MANIFEST_NAME).is_file():
                rej = pipeline.Rejected(name, str(tf.manifest.path),
                                        f"tenant name {name!r} is also used by {other}")
                self._reject(name, d, rej, tf.version)
                return
            live = self._live.get(name)
            if live is not None and live.loaded.version == tf.version:
                return
        try:
            loaded = pipeline.load(tf, like=live.loaded if live is not None else None)
        except pipeline.Rejected as rej:
            if self.watcher.generation(d) != generation or (
                    rej.maybe_truncated and self._maybe_incomplete(d, tf)):
                return   # the files changed meanwhile: the newer ones are judged instead
            self._reject(name, d, rej, tf.version)
            return
        if self.watcher.newer_ready(d, generation):
            loaded.close()   # files finished while these were read: that report takes them all
            return
        previous_name = self._name_of.get(d)
        timings["load"] = (time.monotonic() - t1) * 1e3
        self._go_live(d, loaded, reload=live is not None, timings=timings,
                      since=asked if "watch" in timings else t0)
        if previous_name is not None and previous_name != name:
            self._unload(previous_name)

    def _maybe_incomplete(self, d: pathlib.Path, tf: files.TenantFiles) -> bool:
        """A module written less than FRESH_WRITE_S ago that fails may be
        half-written by a slow writer: look once more after the quiet time."""
        key = (d, tf.version)
        if key in self._retries or time.time() - tf.in_place_at > FRESH_WRITE_S \
                or not self.watcher.running:
            self._retries.discard(key)
            return False
        self._retries.add(key)
        self.watcher.mark(d, QUIET_S)
        return True

    def _reject(self, name: str, d: pathlib.Path, rej: pipeline.Rejected,
                version: str | None) -> None:
        with self._lock:
            st = self._status.setdefault(name, TenantStatus(name, str(d)))
            live = self._live.get(name)
            if not st.failed(rej.file, rej.reason, version):
                return
        log.error("%s", rejection_line(name, rej.file, rej.reason,
                                       live.loaded.version if live else None))

    def _go_live(self, d: pathlib.Path, loaded: pipeline.Loaded, *, reload: bool,
                 timings: dict | None = None, since: float | None = None) -> None:
        name = loaded.name
        with self._lock:
            if timings is not None and since is not None:
                timings["total"] = (time.monotonic() - since) * 1e3
            old = self._live.get(name)
            new = _Live(loaded)
            self._live[name] = new
            self._dir_of[name], self._name_of[d] = d, name
            st = self._status.setdefault(name, TenantStatus(name, str(d)))
            st.directory = str(d)
            st.went_live(loaded.version, loaded.files.wasm_sha256, loaded.form,
                         [c.as_dict() for c in loaded.checks], loaded.files.in_place_at,
                         reload=reload, timings=timings)
            if old is not None:
                self._retire(old)
            if not self._snapshot:
                st.snapshot = {"state": "off"}
            elif self._snap_thread is not None:
                self._snap_q.put((name, new, pipeline.SNAPSHOT_AFTER_S if reload else 0.0))
        log.info("tenant %s: version %s live (%s, loaded in %.1f ms)", name, loaded.version,
                 loaded.form, loaded.load_ms)

    def _unload_dir(self, d: pathlib.Path) -> None:
        name = self._name_of.pop(d, None)
        if name is not None and self._dir_of.get(name) == d:
            self._unload(name)

    def _unload(self, name: str) -> None:
        with self._lock:
            live = self._live.pop(name, None)
            self._dir_of.pop(name, None)
            st = self._status.pop(name, None)
            if live is not None:
                self._retire(live)
        if live is not None:
            log.info("tenant %s: unloaded (its directory %s is gone)", name,
                     st.directory if st else "?")

    def _retire(self, live: _Live) -> None:
        live.retired = True
        self._maybe_free(live)

    def _maybe_free(self, live: _Live) -> None:
        if live.retired and live.refs == 0 and not live.closed:
            live.closed = True
            live.loaded.close()

    # -- snapshots ------------------------------------------------------------------
    def _snapshots(self) -> None:
        while True:
            item = self._snap_q.get()
            if item is None:
                return
            name, live, after_s = item
            time.sleep(after_s)
            with self._lock:
                if self._live.get(name) is not live or live.loaded.form != "configured":
                    continue
            t0 = time.perf_counter()
            try:
                snap = pipeline.snapshot_form(live.loaded)
            except pipeline.Rejected as rej:
                with self._lock:
                    st = self._status.get(name)
                    if st is not None and self._live.get(name) is live:
                        st.snapshot = {"state": "declined", "reason": rej.reason}
                log.info("tenant %s: version %s served without a snapshot: %s", name,
                         live.loaded.version, rej.reason)
                continue
            except Exception:  # noqa: BLE001 - a snapshot bug must not stop serving
                log.exception("tenant %s: snapshot failed", name)
                continue
            with self._lock:
                if self._live.get(name) is not live or self._closed:
                    snap.close()
                    continue
                self._live[name] = _Live(snap)
                self._retire(live)
                st = self._status.get(name)
                if st is not None:
                    st.form = "snapshot"
                    st.checks = [c.as_dict() for c in snap.checks]
                    st.snapshot = {
                        "state": "live", "module_sha256": snap.snapshot.sha256,
                        "configure_ms": round(snap.snapshot.configure_ms, 3),
                        "build_ms": round((time.perf_counter() - t0) * 1e3, 1),
                        "memory_bytes": snap.snapshot.memory_bytes,
                        "segments": snap.snapshot.segments}
                    if snap.snapshot.fresh_in_place is not None:
                        st.snapshot["fresh"] = snap.snapshot.fresh_note
            log.info("tenant %s: version %s now starts from its snapshot", name,
                     live.loaded.version)

    def wait_snapshots(self, timeout: float = 60.0) -> bool:
        """Block until every live version is in its final form (tests, benches)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = [s for s in self._status.values()
                           if s.snapshot and s.snapshot.get("state") == "pending"
                           and s.form == "configured"]
            if not pending:
                return True
            time.sleep(0.01)
        return False

    # -- life ------------------------------------------------------------------
    def close(self) -> None:
        """Stop watching and snapshotting; free every version (after their calls)."""
        if self._closed:
            return
        self._closed = True
        self.watcher.close()
        if self._snap_thread is not None:
            self._snap_q.put(None)
            self._snap_thread.join(timeout=60)
        with self._lock:
            for live in self._live.values():
                self._retire(live)
            self._live.clear()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
