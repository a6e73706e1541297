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
  after :data:`QUIET_S` without further events. For the temporary file the
  watcher also looks :data:`PEEK_S` after its close: if the version's files
  changed meanwhile (their names, sizes, mtimes, inodes), they are reported
  at once. The rename's own event normally comes first, but watchdog pairs
  a rename's two inotify events through a delay queue whose reader, when it
  takes the first of the two before the second arrives, sleeps its whole
  pairing delay (0.5 s) before it hands on either.

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

Reports go to ``on_change(tenant_dir)`` one at a time, on the thread of
watchdog's observer that takes the events from its queue (:class:`_Observer`):
an event is judged and its report made on one thread, with no hand-off to
another between the file event and the reload (each hand-off is a wake-up
that waits for a core while the server is busy). Events that come while a
report is being handled wait in the queue; the reader's questions
(:meth:`Watcher.generation`, :meth:`Watcher.newer_ready`) take them first.
A tenant reported while its previous report is being handled is reported
again afterwards.
"""

from __future__ import annotations

import logging
import os
import pathlib
import queue
import threading
import time
from collections.abc import Callable

from watchdog import events as ev
from watchdog.observers import Observer
from watchdog.observers.api import EventDispatcher

from edgehost.wasm_config.manifest import MANIFEST_NAME

log = logging.getLogger("edgehost.reload")

SETTLE_S = 0.0
CREATED_S = 0.02
PEEK_S = 0.02
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
        self._peeks: dict[pathlib.Path, float] = {}   # tenant -> when to look (PEEK_S)
        self._cond = threading.Condition()
        self._closed = False
        self._wake = 0.0            # when the observer's thread wakes next (0: it is awake)
        self._observer = _Observer(self)
        self._signatures: dict[pathlib.Path, tuple] = {}
        self._next_scan = time.monotonic() + rescan_s
        self.reports = 0

    # -- life ------------------------------------------------------------------
    def start(self) -> Watcher:
        for root in self.roots:
            self._arm(root)
        self._signatures = self._scan()
        self._observer.start()
        return self

    def close(self) -> None:
        """Stop watching; waits for a report being handled to finish."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        try:
            self._observer.stop()
            if threading.current_thread() is not self._observer:
                self._observer.join(timeout=60)
        except RuntimeError:  # never started
            pass

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> bool:
        """Whether the watch is started (and not closed): reports will come."""
        return not self._closed and self._observer.is_alive()

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
            wake = due < self._wake   # else the thread wakes in time anyway: let it sleep
        if wake and threading.current_thread() is not self._observer:
            self._observer.wake()

    def generation(self, tenant: pathlib.Path) -> int:
        """Counts the events seen for ``tenant``: a reader that sees it change
        while it loaded the tenant's files knows newer files are on the way
        (a failure then may be a half-written file, and is not reported)."""
        self._take_queued()
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
        self._take_queued()
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
                    if isinstance(event, ev.FileClosedEvent):   # a deploy tool's temporary
                        with self._cond:
                            self._peeks[tenant] = time.monotonic() + PEEK_S
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
            handler = _Handler()
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
            with os.scandir(tenant) as it:   # one stat per file (the type comes with the name)
                for e in it:
                    if e.is_file() and not _ignored(pathlib.PurePath(e.name)):
                        st = e.stat()
                        entries.append((e.name, st.st_size, st.st_mtime_ns, st.st_ino))
            return tuple(sorted(entries))
        except OSError:
            return ()

    def _version_changed(self, tenant: pathlib.Path) -> bool:
        """Whether the files of ``tenant``'s version (every file, until the
        reader has said which) differ from its last signature (taken at its
        last report or rescan)."""
        with self._cond:
            names = self._expected.get(tenant)
        now, then = self._signature(tenant), self._signatures.get(tenant, ())
        if names is not None:
            now = tuple(e for e in now if e[0] in names)
            then = tuple(e for e in then if e[0] in names)
        return now != then

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

    def _take_queued(self) -> None:
        """On the observer's thread (a reader asking from inside a report):
        judge the events that came meanwhile first."""
        if threading.current_thread() is self._observer:
            self._observer.take_queued()

    def _dispatch(self, take: Callable[[float], bool]) -> None:
        """One turn of the observer's thread: wait for events until the next
        report, peek (:data:`PEEK_S`) or rescan is due (``take(timeout)``
        judges what came, False when nothing did), then look and make the
        reports that are due."""
        with self._cond:
            now = time.monotonic()
            wake = self._wake = min([*self._due.values(), *self._peeks.values(),
                                     self._next_scan])
        take(max(0.0, wake - now))   # the events judged may have moved a report
        with self._cond:
            now = time.monotonic()
            peeks = [t for t, at in self._peeks.items() if at <= now]
            for t in peeks:
                del self._peeks[t]
        for t in peeks:
            if self._version_changed(t):
                self.mark(t, self.settle_s)
        with self._cond:
            self._wake = 0.0
            if self._closed:
                return
            now = time.monotonic()
            due = sorted(t for t, at in self._due.items() if at <= now)
            for t in due:
                del self._due[t]
        if now >= self._next_scan:
            self._next_scan = time.monotonic() + self.rescan_s
            try:
                self._rescan()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one scan
                log.exception("rescan of the watched directories failed")
        for t in due:
            if self._closed:
                return
            self.reports += 1
            self._signatures[t] = self._signature(t)   # the rescan compares with this
            try:
                self.on_change(t)
            except Exception:  # noqa: BLE001 - one tenant's failure must not stop others
                log.exception("handling a change of %s failed", t)


_WAKE = object()   # queued by Watcher.mark from another thread: a report is due sooner


class _Observer(Observer):
    """watchdog's observer, whose thread takes the events from the emitters'
    queue itself and makes the watcher's reports (see the module docstring)."""

    def __init__(self, watcher: Watcher):
        super().__init__()
        self.watcher = watcher
        self.name = "edgehost-watcher"

    def dispatch_events(self, event_queue) -> None:
        self.watcher._dispatch(self._take)

    def wake(self) -> None:
        self.event_queue.put(_WAKE)

    def _take(self, timeout: float) -> bool:
        """Judge the next event (waiting up to ``timeout`` s; 0: only one
        already queued) and every one queued behind it; False when none came."""
        try:
            entry = self.event_queue.get(timeout=timeout) if timeout > 0 else \
                self.event_queue.get_nowait()
        except queue.Empty:
            return False
        self._judge(entry)
        self.take_queued()
        return True

    def take_queued(self) -> None:
        """Judge the events queued now (on this observer's thread only; not
        those that come meanwhile: a stream of events must not starve the
        reports)."""
        for _ in range(self.event_queue.qsize()):
            try:
                entry = self.event_queue.get_nowait()
            except queue.Empty:
                return
            self._judge(entry)

    def _judge(self, entry) -> None:
        try:
            if entry is not _WAKE and entry is not EventDispatcher.stop_event:
                event, _watch = entry   # every watch of this observer is the watcher's
                self.watcher._event(event)
        finally:
            self.event_queue.task_done()


class _Handler(ev.FileSystemEventHandler):
    """What watchdog's schedule() asks for; the events reach Watcher._event
    through _Observer, which dispatches them itself."""
