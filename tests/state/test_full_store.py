"""A store that runs out of room -- the disk under it full, or its map size
reached -- fails the put with UNAVAILABLE (the call becomes a store failure),
never crashes the process (with LMDB's writable map a write into a sparse
file on a full disk would be SIGBUS: blocks are reserved before each write),
keeps what it held, and takes writes again once room is freed."""

from __future__ import annotations

import subprocess

import pytest

from tests.state.support import Worker


def _fill_until_refused(backend_spec: str, data: str) -> Worker:
    w = Worker(backend_spec, data, "hog", kv_max_bytes=1 << 34)
    assert w.ask(f"put {b'first'.hex()} {b'kept'.hex()}") == "0"
    answer = w.ask("fill f 60000")
    assert answer.startswith("unavailable "), answer       # refused, and the worker lives
    assert w.proc.poll() is None
    return w, answer


def _check_and_recover(w: Worker, backend_spec: str, data: str) -> None:
    from edgehost.state import open_store

    with open_store(backend_spec, data) as store, store.namespace("hog") as ns:
        keys = ns.keys()
        assert ns.get(b"first") == b"kept"
        count, used = ns.stats()
        assert count == len(keys) and used == sum(len(k) + len(ns.get(k)) for k in keys)
        for k in keys[: len(keys) // 2]:
            if k != b"first":
                ns.delete(k)
    assert w.ask(f"put {b'again'.hex()} {b'1'.hex()}") == "0"


def test_map_size_reached(tmp_path):
    data = str(tmp_path / "d")
    w, answer = _fill_until_refused("lmdb:?map_mb=16", data)
    try:
        assert "store full" in answer
        _check_and_recover(w, "lmdb", data)
    finally:
        w.close()


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"CANNOT MOUNT A SMALL FILESYSTEM -- full disk NOT TESTED: "
                    f"{proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk(small_disk):
    data = str(small_disk / "d")
    w, answer = _fill_until_refused("lmdb:?map_mb=64", data)   # the map is larger than the disk
    try:
        assert "No space left on device" in answer
        _check_and_recover(w, "lmdb", data)
    finally:
        w.close()
