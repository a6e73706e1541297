"""A server worker's part in hot reload: it loads the versions the master
chose, one tenant at a time, and swaps them into its route table when told.

Commands (JSON lines from the master, see :mod:`.coordinator`) and the
events they answer with:

* ``prepare`` (a version spec): load it beside the live one -- the module
  bytes the master froze (checked against their hash), the manifest text the
  master read, compiled through the module cache (the master compiled it:
  a hit), instantiated, configured, its golden requests answered -- and keep
  it ready. -> ``prepared`` / ``prepare_failed`` (file, reason). A version
  with the live version's module bytes (a change to the manifest alone,
  such as ``[config]``) takes the live version's compiled and checked
  module as it is; it is instantiated, configured and checked all the same.
  With ``commit`` (the master's only worker) it is committed at once if it
  was prepared before ``commit_by`` (wall time), and dropped otherwise.
* ``commit``: put the prepared version in the route table in one swap (the
  other tenants' entries unchanged); requests in flight finish on the old
  version, which is freed after its last one. -> ``committed``.
* ``abort``: drop a prepared version. ``unload``: take a tenant out.
* then, on a background thread, the snapshot form of each committed version
  is built and checked (a reloaded one from :data:`~.pipeline.SNAPSHOT_AFTER_S`
  after its commit); the main loop swaps it in the same way (an event ``snapshot``
  says how it went).

A worker starts with the master's current version specs (``versions`` in its
spec line) and loads them all before it accepts connections.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import pathlib
import pickle
import queue
import threading
import time

from edgehost.errors import ConfigError, EdgehostError
from edgehost.native import ffi, lib
from edgehost.reload import files, pipeline
from edgehost.serving import plan

log = logging.getLogger("edgehost.serving")
SWAP_TIMEOUT_MS = 10_000


def pack_manifest(man) -> str:
    """The master's parsed, validated manifest as a spec carries it: a
    worker takes exactly what the master judged, without parsing the text
    again (the worker's own parent writes its command pipe)."""
    return base64.b64encode(pickle.dumps(man, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def tenant_files(spec: dict, live: files.TenantFiles | None = None) -> files.TenantFiles:
    """The version a spec names, from the bytes the master froze (or the
    ``live`` version's, already checked, when the spec names the same ones)."""
    man = pickle.loads(base64.b64decode(spec["manifest"]))
    if live is not None and live.wasm_sha256 == spec["wasm_sha256"]:
        return files.TenantFiles(pathlib.Path(spec["dir"]), spec["manifest_text"], man,
                                 live.wasm, live.wasm_sha256, spec["version"],
                                 spec.get("in_place_at", 0.0))
    with open(spec["wasm_path"], "rb") as fh:
        wasm = fh.read()
    sha = hashlib.sha256(wasm).hexdigest()
    if sha != spec["wasm_sha256"]:
        raise pipeline.Rejected(man.name, spec["wasm_path"],
                                "the frozen module does not match its hash")
    return files.TenantFiles(pathlib.Path(spec["dir"]), spec["manifest_text"], man, wasm, sha,
                             spec["version"], spec.get("in_place_at", 0.0))


class Switch:
    """Per-tenant versions of one :class:`~edgehost.serving.worker.Worker`."""

    def __init__(self, worker, emit):
        self.w = worker
        self.emit = emit
        self.loaded: dict[str, pipeline.Loaded] = {}     # the live version's Loaded, by name
        self.pending: dict[tuple[str, str], tuple] = {}  # (name, version) -> (Version, Loaded)
        self._snap_in: queue.Queue = queue.Queue()
        self._snap_out: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._snapshots, daemon=True,
                                        name="edgehost-snapshots")
        self._thread.start()

    # -- building versions ---------------------------------------------------------
    def _version(self, loaded: pipeline.Loaded):
        from edgehost.serving.worker import Version

        try:
            return Version(self.w.srv, loaded.files.manifest, threads=self.w.threads,
                           queue=self.w.queue, tenant=loaded.tenant,
                           guest_spin_us=self.w.spec.get("guest_spin_us"))
        except EdgehostError:
            loaded.close()
            raise

    def _load(self, spec: dict) -> tuple:
        from edgehost.serving.worker import guest_options

        live = self.loaded.get(spec["name"])
        tf = tenant_files(spec, live.files if live is not None else None)
        loaded = pipeline.load(tf, guest_options=guest_options(self.w.spec.get("guest_spin_us")),
                               like=live)
        return self._version(loaded), loaded

    # -- the route table -----------------------------------------------------------------
    def install(self, versions: dict) -> None:
        """Make ``versions`` (name -> Version) the served set in one swap; the
        versions it replaces are retired (freed after their last request)."""
        rts = plan.routes([v.tenant.manifest for v in versions.values()])
        table = lib.eh_routes_new()
        if table == ffi.NULL:
            raise EdgehostError("out of memory building the route table")
        try:
            for rt in rts:
                v = versions[rt.tenant]
                if lib.eh_routes_add(table, rt.host.encode(), rt.path.encode(), rt.strip,
                                     v.svc, v.index[rt.export]) != 0:
                    raise ConfigError(f"cannot add route {rt.host or '*'}{rt.path}")
        except BaseException:
            lib.eh_routes_free(table)
            raise
        if lib.eh_srv_set_routes(self.w.srv, table, SWAP_TIMEOUT_MS) != 0:
            raise EdgehostError("the server did not take the new route table in time")
        old = self.w.current
        self.w.current = dict(versions)
        # Freed by the worker's main loop (Worker.retire) once this command's
        # answer is sent: the master hears of the switch before that CPU is spent.
        self.w.retired.extend(v for n, v in old.items() if versions.get(n) is not v)

    # -- commands --------------------------------------------------------------------------
    def start(self, specs: list[dict]) -> None:
        """Load every version of the worker's spec and serve them (all or nothing)."""
        versions, loadeds = {}, {}
        try:
            for spec in specs:
                versions[spec["name"]], loadeds[spec["name"]] = self._load(spec)
            self.install(versions)
        except pipeline.Rejected as rej:
            for v in versions.values():
                v.close()
            raise EdgehostError(str(rej)) from None
        except BaseException:
            for v in versions.values():
                v.close()
            raise
        self.loaded = loadeds
        for name, loaded in loadeds.items():
            self.emit("loaded", tenant=name, version=loaded.version,
                      checks=[c.as_dict() for c in loaded.checks])
            self._snap_in.put((name, loaded, 0.0))

    def prepare(self, spec: dict, *, commit: bool = False, commit_by: float = 0.0) -> None:
        t0 = time.perf_counter()
        key = (spec["name"], spec["version"])
        try:
            version, loaded = self._load(spec)
        except pipeline.Rejected as rej:
            self.emit("prepare_failed", tenant=key[0], version=key[1], file=rej.file,
                      reason=rej.reason)
            return
        except EdgehostError as exc:
            self.emit("prepare_failed", tenant=key[0], version=key[1], file=spec["wasm_path"],
                      reason=str(exc))
            return
        old = self.pending.pop(key, None)
        if old is not None:
            old[0].close()
        if commit and time.time() > commit_by:
            version.close()
            self.emit("prepare_failed", tenant=key[0], version=key[1], file=spec["wasm_path"],
                      reason="prepared after the master stopped waiting")
            return
        self.pending[key] = (version, loaded)
        ms = round((time.perf_counter() - t0) * 1e3, 3)
        if commit:   # traffic first, then the news
            self.commit(*key)
        self.emit("prepared", tenant=key[0], version=key[1],
                  checks=[c.as_dict() for c in loaded.checks], ms=ms)

    def commit(self, name: str, version: str) -> None:
        item = self.pending.pop((name, version), None)
        if item is None:
            self.emit("commit_failed", tenant=name, version=version, reason="not prepared")
            return
        v, loaded = item
        t0 = time.perf_counter()
        try:
            self.install({**self.w.current, name: v})
        except EdgehostError as exc:
            v.close()
            self.emit("commit_failed", tenant=name, version=version, reason=str(exc))
            return
        self.loaded[name] = loaded
        self.emit("committed", tenant=name, version=version,
                  ms=round((time.perf_counter() - t0) * 1e3, 3))
        self._snap_in.put((name, loaded, pipeline.SNAPSHOT_AFTER_S))

    def abort(self, name: str, version: str) -> None:
        item = self.pending.pop((name, version), None)
        if item is not None:
            item[0].close()

    def unload(self, name: str) -> None:
        if name in self.w.current:
            self.install({n: v for n, v in self.w.current.items() if n != name})
        self.loaded.pop(name, None)
        self.emit("unloaded", tenant=name)

    def handle(self, cmd: dict) -> bool:
        """Run a reload command; False when ``cmd`` is not one."""
        kind = cmd.get("cmd")
        if kind == "prepare":
            self.prepare(cmd["spec"], commit=bool(cmd.get("commit")),
                         commit_by=float(cmd.get("commit_by", 0.0)))
        elif kind == "commit":
            self.commit(cmd["tenant"], cmd["version"])
        elif kind == "abort":
            self.abort(cmd["tenant"], cmd["version"])
        elif kind == "unload":
            self.unload(cmd["tenant"])
        else:
            return False
        return True

    # -- snapshots ---------------------------------------------------------------------------
    def _snapshots(self) -> None:
        while True:
            name, loaded, after_s = self._snap_in.get()
            if name is None:
                return
            time.sleep(after_s)
            t0 = time.perf_counter()
            try:
                snap = pipeline.snapshot_form(loaded)
            except pipeline.Rejected as rej:
                self._snap_out.put((name, loaded, None, rej.reason, 0.0))
                continue
            except Exception as exc:  # noqa: BLE001 - a snapshot bug must not stop serving
                log.exception("tenant %s: snapshot failed", name)
                self._snap_out.put((name, loaded, None, f"internal error: {exc}", 0.0))
                continue
            self._snap_out.put((name, loaded, snap, "", (time.perf_counter() - t0) * 1e3))

    def poll(self) -> None:
        """On the worker's main loop: swap in the snapshots that are ready."""
        while True:
            try:
                name, loaded, snap, reason, ms = self._snap_out.get_nowait()
            except queue.Empty:
                return
            current = self.loaded.get(name) is loaded
            if snap is None:
                if current:
                    self.emit("snapshot", tenant=name, version=loaded.version,
                              state="declined", reason=reason)
                continue
            if not current or name not in self.w.current:
                snap.close()
                continue
            try:
                v = self._version(snap)
                lib.eh_svc_inherit(v.svc, self.w.current[name].svc)  # the same module
                self.install({**self.w.current, name: v})
            except EdgehostError as exc:
                self.emit("snapshot", tenant=name, version=loaded.version, state="declined",
                          reason=str(exc))
                continue
            self.loaded[name] = snap
            s = snap.snapshot
            self.emit("snapshot", tenant=name, version=loaded.version, state="live",
                      module_sha256=s.sha256, configure_ms=round(s.configure_ms, 3),
                      build_ms=round(ms, 1), memory_bytes=s.memory_bytes, segments=s.segments,
                      **({"fresh": s.fresh_note} if s.fresh_in_place is not None else {}))

    def close(self) -> None:
        self._snap_in.put((None, None, 0.0))
        self._thread.join(timeout=30)
        for v, _ in self.pending.values():
            v.close()
        self.pending.clear()
