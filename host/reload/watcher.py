"""Watch tenant directories (watchdog, inotify on Linux) and report which
tenant changed, once its files have settled.

Each root is either a tenant (it holds an ``edgehost.toml``) or a folder of
tenants (one level down), as ``edgehost serve`` reads its DIR arguments. An
event anywhere under a tenant's directory marks that tenant; the report
comes after a debounce that depends on what the writer did:

* the writer is done -- it renamed a file into place, deleted something,
  or closed a file of the version it wrote in place (inotify's
  IN_CLOSE_WRITE) -- : report after :data:`SETTLE_S` (0: as soon as the
  watcher's thread picks it up; events that arrive meanwhile, such as the
  second file of a manifest and module written together, join the same
  report);
* a file of the version appeared with content: moved in whole from outside
  the watched tree, or created by a writer that already wrote some of it and
  closes it next: report after :data:`CREATED_S` unless a writer's next
  event decides first (so a writer's file is reported once, when closed);
* the writer may still be at it -- a file was modified or created empty and
  not closed yet, or a file that is not one of the version's was closed (a
  deploy tool's temporary file, renamed into place next) -- : report only
  after :data:`QUIET_S` without further events.

Which files make a version (manifest, module) the reader says after each
read (:meth:`Watcher.expect`); until it has, every closed file counts.
Each new event for a tenant restarts its wait, so a storm of writes ends in
one report after the last. The reader of a report still reads the files
consistently (:mod:`.files`): a writer that is slower than the quiet period
is caught there and the tenant is reported again later; and a reader that
is about to switch to what it read asks :meth:`Watcher.newer_ready` first,
so files finished while it was reading are judged together, not one by one.

Events can be missed (the kernel's queue overflows in a storm, a root is
deleted and created again, an editor swaps directories): every
:data:`RESCAN_S` the watcher also compares a cheap signature of every
tenant directory (names, sizes, mtimes, inodes of its files) with the last
one and reports what differs. A root that disappears is reported (its
tenants are gone) and watched again when it comes back.

Reports go to ``on_change(tenant_dir)`` on the watcher's own thread, one at a
time; a tenant reported while its previous report is being handled is
reported again afterwards.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
import time
from collections.abc import Callable

from watchdog import events as ev
from watchdog.observers import Observer

from edgehost.wasm_config.manifest import MANIFEST_NAME

log = logging.getLogger("edgehost.reload")

SETTLE_S = 0.0
CREATED_S = 0.02
QUIET_S = 0.2
RESCAN_S = 1.0
# The events a watch asks inotify for. Opens, reads (IN_CLOSE_NOWRITE) and
# directory-modified events never change a version, and the reload's own
# reads of the files would otherwise come back as events: each is one more
# trip through watchdog's threads while a reload runs.
EVENTS = [ev.FileCreatedEvent, ev.DirCreatedEvent, ev.FileModifiedEvent, ev.FileMovedEvent,
          ev.DirMovedEvent, ev.FileDeletedEvent, ev.DirDeletedEvent, ev.FileClosedEvent]
# Names a tenant directory may hold that are never part of a version:
# editors' and builds' temporaries, build trees.
IGNORED_DIRS = {"target", "__pycache__", ".git"}


def _ignored(rel: pathlib.PurePath) -> bool:
    for part in rel.parts:
        if part in IGNORED_DIRS:
            return True
    name = rel.name
    return name.startswith((".#", "#")) or name.endswith(("~", ".swp", ".swx", ".build"))


class _Root:
    def __init__(self, path: pathlib.Path):
        self.path = path
        self.is_tenant = (path / MANIFEST_NAME).is_file()
        self.watch = None
        self.inode: int | None = None
        self.present = path.is_dir()


class Watcher:
    """Watches ``roots`` and calls ``on_change(tenant_dir)`` (see the module
    docstring). ``start()`` begins, ``close()`` stops and joins; a context
    manager too."""

    def __init__(self, roots, on_change: Callable[[pathlib.Path], None], *,
                 settle_s: float = SETTLE_S, quiet_s: float = QUIET_S,
                 rescan_s: float = RESCAN_S):
        self.roots = [_Root(pathlib.Path(r).resolve()) for r in roots]
        self.on_change = on_change
        self.settle_s, self.quiet_s, self.rescan_s = settle_s, quiet_s, rescan_s
        self._due: dict[pathlib.Path, float] = {}
        self._generation: dict[pathlib.Path, int] = {}
        self._expected: dict[pathlib.Path, frozenset[str]] = {}
        self._marked_at: dict[pathlib.Path, float] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._wake = 0.0            # when the watcher's thread wakes next (0: it is awake)
        self._observer = Observer()
        self._signatures: dict[pathlib.Path, tuple] = {}
        self._next_scan = time.monotonic() + rescan_s
        self._thread = threading.Thread(target=self._run, name="edgehost-watcher", daemon=True)
        self.reports = 0

    # -- life ------------------------------------------------------------------
    def start(self) -> Watcher:
        for root in self.roots:
            self._arm(root)
        self._signatures = self._scan()
        self._observer.start()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop watching; waits for a report being handled to finish."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        try:
            self._observer.stop()
            self._observer.join(timeout=10)
        except RuntimeError:  # never started
            pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=60)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- which tenant ---------------------------------------------------------------------------
    def tenant_of(self, path: str | os.PathLike, *,
                  is_file: bool = False) -> pathlib.Path | None:
        """The tenant directory an event at ``path`` concerns (None: none).
        ``is_file``: the event says ``path`` is (or was) a plain file."""
        p = pathlib.Path(os.fsdecode(path))
        for root in self.roots:
            try:
                rel = p.relative_to(root.path)
            except ValueError:
                continue
            if root.is_tenant:
                return None if _ignored(rel) else root.path
            if not rel.parts:
                return None
            if _ignored(pathlib.PurePath(*rel.parts[1:])) if len(rel.parts) > 1 else False:
                return None
            top = root.path / rel.parts[0]
            if len(rel.parts) == 1 and not top.is_dir() and (is_file or top.exists()):
                return None  # a plain file next to the tenants (a log, a README): no tenant
            return top
        return None

    def tenant_dirs(self) -> list[pathlib.Path]:
        """The tenant directories present under the roots now."""
        out = []
        for root in self.roots:
            if root.is_tenant:
                if (root.path / MANIFEST_NAME).is_file():
                    out.append(root.path)
            elif root.path.is_dir():
                out.extend(sorted(m.parent for m in root.path.glob(f"*/{MANIFEST_NAME}")))
        return out

    # -- events ------------------------------------------------------------------
    def mark(self, tenant: pathlib.Path, delay_s: float) -> None:
        """Report ``tenant`` after ``delay_s`` without further events."""
        with self._cond:
            now = self._marked_at[tenant] = time.monotonic()
            due = self._due[tenant] = now + delay_s
            self._generation[tenant] = self._generation.get(tenant, 0) + 1
            if due < self._wake:  # else the thread wakes in time anyway: let it sleep
                self._cond.notify_all()

    def generation(self, tenant: pathlib.Path) -> int:
        """Counts the events seen for ``tenant``: a reader that sees it change
        while it loaded the tenant's files knows newer files are on the way
        (a failure then may be a half-written file, and is not reported)."""
        with self._cond:
            return self._generation.get(pathlib.Path(tenant), 0)

    def last_event(self, tenant: pathlib.Path) -> float | None:
        """time.monotonic() of the latest event (or rescan) that marked ``tenant``."""
        with self._cond:
            return self._marked_at.get(pathlib.Path(tenant))

    def newer_ready(self, tenant: pathlib.Path, generation: int) -> bool:
        """Whether files of ``tenant`` were finished (a report is due now)
        since :meth:`generation` returned ``generation``: a reader about to
        switch to what it read then should leave it to that report."""
        tenant = pathlib.Path(tenant)
        with self._cond:
            due = self._due.get(tenant)
            return (self._generation.get(tenant, 0) != generation and due is not None
                    and due <= time.monotonic())

    def expect(self, tenant: pathlib.Path, names) -> None:
        """The files (paths relative to ``tenant``) that make its version
        now; None: not known (every closed file then counts as finished)."""
        tenant = pathlib.Path(tenant)
        with self._cond:
            if names is None:
                self._expected.pop(tenant, None)
            else:
                self._expected[tenant] = frozenset(str(pathlib.PurePath(n)) for n in names)

    def _finished(self, tenant: pathlib.Path, path) -> bool:
        """A file closed at ``path`` is one of the version's (or unknown)."""
        with self._cond:
            names = self._expected.get(tenant)
        if names is None:
            return True
        try:
            return str(pathlib.Path(os.fsdecode(path)).relative_to(tenant)) in names
        except ValueError:
            return True

    def pending(self, tenant: pathlib.Path) -> bool:
        """Whether a report of ``tenant`` is waiting for its debounce."""
        with self._cond:
            return pathlib.Path(tenant) in self._due

    def _event(self, event: ev.FileSystemEvent) -> None:
        if isinstance(event, (ev.FileOpenedEvent, ev.FileClosedNoWriteEvent,
                              ev.DirModifiedEvent)):
            return
        paths = [event.src_path]
        if isinstance(event, (ev.FileMovedEvent, ev.DirMovedEvent)):
            paths.append(event.dest_path)
        settled = True
        if isinstance(event, ev.FileModifiedEvent):
            settled = False
        elif isinstance(event, ev.FileCreatedEvent):
            try:  # moved in whole from elsewhere, or just opened by a writer?
                settled = os.stat(event.src_path).st_size > 0
            except OSError:
                settled = True
        for p in paths:
            tenant = self.tenant_of(p, is_file=not event.is_directory)
            if tenant is not None:
                done = settled and (not isinstance(event, (ev.FileClosedEvent,
                                                           ev.FileCreatedEvent))
                                    or self._finished(tenant, p))
                if not done:
                    self.mark(tenant, self.quiet_s)
                elif isinstance(event, ev.FileCreatedEvent):
                    self.mark(tenant, self.settle_s + CREATED_S)
                else:
                    self.mark(tenant, self.settle_s)
            elif isinstance(event, (ev.DirDeletedEvent, ev.DirMovedEvent)):
                for root in self.roots:
                    if pathlib.Path(os.fsdecode(p)) == root.path:
                        self._rescan_soon()

    def _rescan_soon(self) -> None:
        with self._cond:
            self._next_scan = 0.0
            self._cond.notify_all()

    # -- the watch itself ----------------------------------------------------------------------
    def _arm(self, root: _Root) -> None:
        """(Re)install the inotify watch of ``root`` if it exists."""
        if root.watch is not None:
            try:
                self._observer.unschedule(root.watch)
            except (KeyError, ValueError, OSError):
                pass
            root.watch = None
        try:
            st = root.path.stat()
            handler = _Handler(self)
            root.watch = self._observer.schedule(handler, str(root.path), recursive=True,
                                                 event_filter=EVENTS)
            root.inode = st.st_ino
            root.present = True
        except OSError:
            root.present = False
            root.inode = None

    def _signature(self, tenant: pathlib.Path) -> tuple:
        try:
            entries = []
            for p in sorted(tenant.iterdir()):
                if p.is_file() and not _ignored(pathlib.PurePath(p.name)):
                    st = p.stat()
                    entries.append((p.name, st.st_size, st.st_mtime_ns, st.st_ino))
            return tuple(entries)
        except OSError:
            return ()

    def _scan(self) -> dict[pathlib.Path, tuple]:
        return {t: self._signature(t) for t in self.tenant_dirs()}

    def _rescan(self) -> None:
        for root in self.roots:
            try:
                st = root.path.stat()
                inode = st.st_ino
            except OSError:
                inode = None
            if inode is None and root.present:
                log.warning("watched directory %s disappeared: its tenants are unloaded; "
                            "watching resumes when it comes back", root.path)
                self._arm(root)
            elif inode is not None and (not root.present or inode != root.inode):
                if not root.present:
                    log.info("watched directory %s is back", root.path)
                self._arm(root)
        now = self._scan()
        for tenant in set(now) | set(self._signatures):
            if now.get(tenant) != self._signatures.get(tenant):
                self.mark(tenant, self.settle_s)
        self._signatures = now

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    now = time.monotonic()
                    due = [t for t, at in self._due.items() if at <= now]
                    if due or now >= self._next_scan:
                        break
                    wake = self._wake = min([*self._due.values(), self._next_scan])
                    self._cond.wait(max(0.0, wake - now))
                    self._wake = 0.0
                if self._closed:
                    return
                for t in due:
                    del self._due[t]
            if time.monotonic() >= self._next_scan:
                self._next_scan = time.monotonic() + self.rescan_s
                try:
                    self._rescan()
                except Exception:  # noqa: BLE001 - the watcher must outlive any one scan
                    log.exception("rescan of the watched directories failed")
            for t in sorted(due):
                self.reports += 1
                self._signatures[t] = self._signature(t)   # the rescan compares with this
                try:
                    self.on_change(t)
                except Exception:  # noqa: BLE001 - one tenant's failure must not stop others
                    log.exception("handling a change of %s failed", t)


class _Handler(ev.FileSystemEventHandler):
    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: ev.FileSystemEvent) -> None:
        self.watcher._event(event)
