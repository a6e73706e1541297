"""What the watcher reports when: a file renamed into place or closed after
an in-place write is reported at once; a temporary file a deploy tool closes
before renaming it waits for the rename; a reader is told when files were
finished while it read; and the master's command lines reach a worker
however they arrive on its pipe."""

from __future__ import annotations

import os
import threading
import time

from edgehost.reload import files
from edgehost.reload.watcher import Watcher
from edgehost.serving.worker import _Lines
from tests.reload import support

QUIET_S = 600.0   # a report waiting for quiet would never come within a test


class _Reports:
    def __init__(self):
        self.seen: list = []
        self.lock = threading.Lock()

    def __call__(self, tenant):
        with self.lock:
            self.seen.append(tenant)

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


def _watch(tmp_path):
    d = support.make_tenant(tmp_path, "gen", version="v1")
    reports = _Reports()
    w = Watcher([tmp_path], reports, quiet_s=QUIET_S, rescan_s=QUIET_S)  # started by `with`
    w.expect(d, files.read(d).version_files)
    return d, w, reports


def test_a_temporary_file_waits_for_its_rename(tmp_path):
    d, w, reports = _watch(tmp_path)
    with w:
        g0 = w.generation(d)
        tmp = d / ".deploy-x"
        tmp.write_text(support.manifest("gen", greeting="g2"))      # created, written, closed
        assert support.wait_for(lambda: w.generation(d) > g0 and w.pending(d))
        assert reports.count() == 0 and not w.newer_ready(d, g0)   # not finished yet
        os.replace(tmp, d / "edgehost.toml")
        assert support.wait_for(lambda: reports.count() >= 1)
        assert set(reports.seen) == {d}


def test_an_in_place_write_is_reported_when_the_file_is_closed(tmp_path):
    d, w, reports = _watch(tmp_path)
    with w:
        g0 = w.generation(d)
        with open(d / "edgehost.toml", "w") as fh:
            fh.write(support.manifest("gen", greeting="g2")[:20])
            fh.flush()
            assert support.wait_for(lambda: w.generation(d) > g0 and w.pending(d))
            assert reports.count() == 0                 # modified, still open: quiet wait
            fh.write(support.manifest("gen", greeting="g2")[20:])
        assert support.wait_for(lambda: reports.count() >= 1)


def test_a_file_moved_in_from_outside_the_watch_is_reported(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    d = support.make_tenant(root, "gen", version="v1")
    reports = _Reports()
    w = Watcher([root], reports, quiet_s=QUIET_S, rescan_s=QUIET_S)
    w.expect(d, files.read(d).version_files)
    with w:
        (elsewhere / "gen.wasm").write_bytes(support.module("v2"))
        os.replace(elsewhere / "gen.wasm", d / "gen.wasm")   # no close event follows
        assert support.wait_for(lambda: reports.count() >= 1)
        assert set(reports.seen) == {d}


def test_until_the_files_are_known_every_closed_file_counts(tmp_path):
    d, w, reports = _watch(tmp_path)
    w.expect(d, None)
    with w:
        (d / "notes.txt").write_text("x")
        assert support.wait_for(lambda: reports.count() >= 1)


def test_newer_ready_tells_a_reader_that_files_were_finished_meanwhile(tmp_path):
    d = support.make_tenant(tmp_path, "gen", version="v1")
    w = Watcher([tmp_path], lambda t: None, quiet_s=QUIET_S)   # not started: marks by hand
    g0 = w.generation(d)
    assert not w.newer_ready(d, g0)
    w.mark(d, QUIET_S)                  # a writer still at it
    assert not w.newer_ready(d, g0)
    w.mark(d, 0.0)                      # a file finished
    assert w.newer_ready(d, g0)
    assert not w.newer_ready(d, w.generation(d))


def test_a_rename_whose_event_is_held_back_is_found_by_the_peek(tmp_path):
    # watchdog may hold a rename's event back for its whole pairing delay
    # (0.5 s): the watcher looks at the version's files PEEK_S after the
    # temporary file's close. Events are handed in here one by one, the
    # rename's never; each turn of the watcher waits as its observer would.
    from watchdog import events as ev

    from edgehost.reload.watcher import PEEK_S

    d = support.make_tenant(tmp_path, "gen", version="v1")
    reports = _Reports()
    w = Watcher([tmp_path], reports, quiet_s=QUIET_S, rescan_s=QUIET_S)
    w.expect(d, files.read(d).version_files)
    w._signatures = w._scan()

    def turn():
        w._dispatch(lambda timeout: time.sleep(min(timeout, 1.0)) or False)

    tmp = d / ".deploy-x"
    tmp.write_text(support.manifest("gen", greeting="g2"))
    w._event(ev.FileClosedEvent(str(tmp)))            # not a version file: quiet wait
    os.replace(tmp, d / "edgehost.toml")              # ... and its rename's event never comes
    t0 = time.monotonic()
    while reports.count() == 0 and time.monotonic() - t0 < 5 * PEEK_S + 1.0:
        turn()
    assert reports.seen == [d]
    # a temporary file closed and not renamed (yet): the version is unchanged, no report
    tmp.write_text("x")
    w._event(ev.FileClosedEvent(str(tmp)))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3 * PEEK_S:
        turn()
    assert reports.seen == [d]


def test_a_plain_file_next_to_the_tenants_is_no_tenant(tmp_path):
    # A server's log written into the folder it serves made one report (and a
    # traceback) per write.
    d, w, reports = _watch(tmp_path)
    with w:
        with open(tmp_path / "serve.log", "w") as log:
            for _ in range(5):
                log.write("a line\n")
                log.flush()
        (tmp_path / "notes.txt").write_text("x")
        os.replace(tmp_path / "notes.txt", tmp_path / "renamed.txt")
        (d / "edgehost.toml").write_text(support.manifest("gen", greeting="g2"))  # a marker
        assert support.wait_for(lambda: reports.count() >= 1)
        assert set(reports.seen) == {d}


def test_a_tenant_linked_into_the_folder_is_reported(tmp_path):
    # A symbolic link is a plain file to inotify; the directory it names is a tenant.
    root = tmp_path / "root"
    root.mkdir()
    elsewhere = support.make_tenant(tmp_path, "linked", version="v1")
    reports = _Reports()
    with Watcher([root], reports, quiet_s=QUIET_S, rescan_s=QUIET_S):
        (root / "linked").symlink_to(elsewhere, target_is_directory=True)
        assert support.wait_for(lambda: reports.count() >= 1)
        assert set(reports.seen) == {root / "linked"}


def test_command_lines_are_handed_out_however_they_arrive():
    r, wr = os.pipe()
    try:
        lines = _Lines(r)
        os.write(wr, b'{"spec": 1}\n{"cmd": "prepare"}\n{"cmd": "com')
        assert lines.first() == '{"spec": 1}'
        # what came with the spec line is kept for the command loop, the partial line too
        assert lines.take() == ['{"cmd": "prepare"}']
        os.write(wr, b'mit"}\n\n{"cmd": "abort"}\n')
        lines.fill()
        assert lines.take() == ['{"cmd": "commit"}', '{"cmd": "abort"}']
        os.close(wr)
        wr = -1
        lines.fill()
        assert lines.eof and lines.take() == []
    finally:
        os.close(r)
        if wr >= 0:
            os.close(wr)
