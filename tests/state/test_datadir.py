"""Where the embedded store lives, how the store is chosen, and the errors
for stores that cannot be opened."""

from __future__ import annotations

import os

import pytest

from edgehost import state
from edgehost.errors import StoreError
from edgehost.state import datadir, open_store
from edgehost.state import spec as spec_mod
from tests.state.support import get, kv_tenant, put


def test_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEHOST_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert datadir.default_data_dir() == tmp_path / "xdg" / "edgehost"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datadir.default_data_dir() == tmp_path / "home" / ".local" / "share" / "edgehost"
    monkeypatch.setenv("EDGEHOST_DATA", str(tmp_path / "explicit"))
    assert datadir.default_data_dir() == tmp_path / "explicit"


def test_store_files_and_map_size(tmp_path):
    with open_store("lmdb:?map_mb=64", tmp_path / "d") as store:
        assert store.backend == "lmdb" and store.path == str(tmp_path / "d" / "kv")
        put(kv_tenant(store), b"k", b"v")
    data = tmp_path / "d" / "kv" / "data.mdb"
    assert data.stat().st_size == 64 << 20                  # the map, sparse
    assert data.stat().st_blocks * 512 < 64 << 20
    assert oct(data.stat().st_mode & 0o777) == "0o600"
    with open_store("lmdb:?map_mb=128", tmp_path / "d") as store:   # an existing store keeps it
        assert get(kv_tenant(store), b"k") == b"v"
    assert data.stat().st_size == 64 << 20


def test_default_store_uses_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEHOST_KV", raising=False)
    monkeypatch.setenv("EDGEHOST_DATA", str(tmp_path / "env-data"))
    store = state.default_store()
    assert store.backend == "lmdb" and store.path == str(tmp_path / "env-data" / "kv")
    assert state.default_store() is store                   # opened once
    monkeypatch.setenv("EDGEHOST_KV", "memory")
    assert state.default_store().backend == "memory"
    mine = open_store("memory")
    state.set_default_store(mine)
    try:
        assert state.default_store() is mine
        monkeypatch.setenv("EDGEHOST_KV", "lmdb")
        assert state.default_store() is mine                # set explicitly: env ignored
    finally:
        state.set_default_store(None)


@pytest.mark.parametrize("spec, message", [
    ("bogus", "unknown kv store"),
    ("lmdb:/some/dir", "give the directory with --data"),
    ("lmdb:?flush_ms=-1", "flush_ms must be an integer"),
    ("lmdb:?nope=1", "unknown option 'nope'"),
    ("redis://", "no host"),
    ("redis://h:99999", "bad port"),
    ("redis://h/x", "database number"),
    ("redis://h/0?prefix=a{b", "prefix"),
    ("redis://h/0?timeout_ms=0", "timeout_ms must be"),
    ("rediss://h", "TLS"),
])
def test_bad_store_choices_are_one_line_errors(spec, message):
    with pytest.raises(StoreError, match=message) as err:
        spec_mod.parse(spec)
    assert "\n" not in str(err.value)


def test_redis_url_parts():
    s = spec_mod.parse("redis://:s3cret@example.org:7000/3?prefix=edge&retry_ms=100")
    assert (s.host, s.port, s.db, s.password, s.prefix) == ("example.org", 7000, 3, "s3cret",
                                                             "edge")
    assert s.option("retry_ms") == 100 and s.option("timeout_ms") == 500
    assert spec_mod.parse("valkey://h").backend == "redis"


def test_unusable_directories_are_store_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the data directory"):
        open_store("lmdb", blocker)
    garbage = tmp_path / "g" / "kv"
    garbage.mkdir(parents=True)
    (garbage / "data.mdb").write_bytes(os.urandom(64 << 10))
    with pytest.raises(StoreError, match="lmdb:"):
        open_store("lmdb", tmp_path / "g")
