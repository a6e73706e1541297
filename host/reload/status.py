"""What ``edgehost status`` and the admin endpoint show per tenant: the
version serving (content hash), when it went live, in which form, its golden
requests' results, and the last reload that failed."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time

log = logging.getLogger("edgehost.reload")
REPEAT_S = 2.0  # see TenantStatus.failed


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(
        timespec="milliseconds")


@dataclasses.dataclass
class TenantStatus:
    """One tenant's record (JSON-ready through :meth:`as_dict`)."""

    name: str
    directory: str
    version: str | None = None          # content hash of manifest + module (+ check bodies)
    module_sha256: str | None = None
    loaded_at: float | None = None      # wall time the version went live
    live_after_ms: float | None = None  # from the newest file's mtime to live
    form: str | None = None             # configured | snapshot
    snapshot: dict | None = None        # state, reason, timings
    checks: list[dict] = dataclasses.field(default_factory=list)
    timings: dict | None = None         # the last reload's steps, ms (see went_live)
    reloads: int = 0
    rejected: int = 0
    last_error: dict | None = None      # {at, file, reason, version}

    def went_live(self, version: str, module_sha256: str, form: str, checks: list[dict],
                  in_place_at: float | None, *, reload: bool, timings: dict | None = None) -> None:
        """Record a version that went live. ``timings``: how long its reload's
        steps took, in ms -- ``watch`` (from the file event that asked for it
        to the start of its handling), ``read`` (files read, version named),
        ``check`` (routes, compile or module reuse, ABI), ``load`` (in one
        process: configure, checks), ``prepare``/``commit`` (the slowest
        worker's own load and route swap), ``switch`` (the master's round
        trips with its workers, both included), ``total`` (event to live)."""
        now = time.time()
        self.timings = {k: round(v, 3) for k, v in timings.items()} if timings else None
        self.version, self.module_sha256, self.form = version, module_sha256, form
        self.loaded_at = now
        self.checks = checks
        self.live_after_ms = round((now - in_place_at) * 1e3, 1) if in_place_at else None
        self.snapshot = {"state": "pending"} if form == "configured" else self.snapshot
        if reload:
            self.reloads += 1

    def failed(self, file: str, reason: str, version: str | None) -> bool:
        """Record a rejection; False (nothing recorded, nothing to log) when it
        repeats the last one -- same file, reason and version -- within
        REPEAT_S: the watcher may report one write twice, and the same files
        judged twice are one rejection."""
        now = time.monotonic()
        last = self.last_error
        if last is not None and (last["file"], last["reason"], last["version"]) == \
                (file, reason, version) and now - getattr(self, "_failed_at", 0.0) < REPEAT_S:
            return False
        self._failed_at = now  # not a field: status JSON leaves it out
        self.rejected += 1
        self.last_error = {"at": _iso(time.time()), "file": file, "reason": reason,
                           "version": version}
        return True

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["loaded_at"] = _iso(self.loaded_at)
        return d


def rejection_line(tenant: str, file: str, reason: str, old_version: str | None) -> str:
    """The ONE log line a rejected version makes (tenant, file, reason, what serves)."""
    keeps = (f"version {old_version} keeps serving" if old_version
             else "the tenant stays unloaded")
    return f"reload of tenant {tenant} rejected, {keeps}: {file}: {reason}"
