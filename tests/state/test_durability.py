"""The durability rule of the embedded store: a put is committed when it
returns; a background flusher puts batches on disk within flush_ms; a
``durable = "sync"`` tenant's put is on disk before it returns."""

from __future__ import annotations

import time

from edgehost.state import open_store
from tests.state.support import get, kv_tenant, put
from tests.support import wait_for


def test_sync_tenant_flushes_every_put(tmp_path):
    with open_store("lmdb:?flush_ms=60000", tmp_path) as store:   # no flusher round here
        t = kv_tenant(store, "careful", durable="sync")
        before = store.syncs
        for i in range(20):
            assert put(t, b"k%d" % i, b"v") == 0
        assert store.syncs - before == 20


def test_batch_tenant_is_flushed_in_the_background(tmp_path):
    with open_store("lmdb:?flush_ms=20", tmp_path) as store:
        t = kv_tenant(store, "batched")
        assert wait_for(lambda: store.syncs >= 1, step=0.01)  # the store's creation flush
        before = store.syncs
        t0 = time.monotonic()
        for i in range(500):
            assert put(t, b"k%d" % i, b"v" * 16) == 0
        elapsed_ms = (time.monotonic() - t0) * 1000
        # Batched: at most one flush per flush interval, not one per put ...
        assert store.syncs - before <= elapsed_ms / 20 + 2
        # ... and the last writes reach the disk without another put.
        mark = store.syncs
        assert wait_for(lambda: store.syncs > mark, step=0.01)
        assert store.health() is None


def test_sync_every_commit_mode(tmp_path):
    with open_store("lmdb:?flush_ms=0", tmp_path) as store:
        t = kv_tenant(store, "always")
        assert put(t, b"k", b"v") == 0
        assert get(t, b"k") == b"v"
    with open_store("lmdb", tmp_path) as store:   # reopened with the default rule
        assert get(kv_tenant(store, "always"), b"k") == b"v"


def test_an_idle_reader_pins_no_pages(tmp_path):
    # A thread that read once and went idle must not hold its snapshot:
    # otherwise every page rewritten after it stays allocated and the file
    # grows with each overwrite. Snapshots end with the host call.
    import threading

    with open_store("lmdb", tmp_path) as store:
        t = kv_tenant(store, "churn", limits={"kv_max_value": 65536})
        assert put(t, b"big", b"a" * 60000) == 0
        done = threading.Event()
        idle = threading.Thread(target=lambda: (get(t, b"big"), done.wait()))
        idle.start()
        try:
            for i in range(300):
                assert put(t, b"big", bytes([i % 256]) * 60000) == 0
            used = store.file_used
            assert used < 4 << 20, f"{used} bytes in use after 300 rewrites of one 60 KB value"
        finally:
            done.set()
            idle.join()


def test_sync_where_the_host_cannot_fsync_is_said(caplog, tmp_path):
    with open_store("memory") as store:
        kv_tenant(store, "wants-sync", durable="sync")
    assert "keeps nothing on disk" in caplog.text
