"""The on-disk module cache: hits, and every way an entry can be wrong --
corrupted, truncated, foreign, from another engine setting -- detected before
wasmtime deserializes it, then rebuilt; a full disk is a warning."""

from __future__ import annotations

import logging
import os

import pytest
import wasmtime

from edgehost.runtime import engine as engine_mod
from edgehost.runtime import module_cache as mc
from tests.reload import support

WASM = support.module("cache-v1")


@pytest.fixture
def cache(tmp_path):
    return mc.ModuleCache(tmp_path / "modules")


def _engine():
    return engine_mod.shared().wasmtime


def _answer(module: wasmtime.Module) -> bytes:
    """Run the module's handler through wasmtime-py (the entry really works)."""
    store = wasmtime.Store(_engine())
    store.set_epoch_deadline(1 << 40)   # the shared engine interrupts by epoch
    linker = wasmtime.Linker(_engine())
    mem_ref = {}

    def set_body(ptr, n):
        mem_ref["body"] = mem_ref["mem"].read(store, ptr, ptr + n)
        return 0

    linker.define_func("edgehost", "config_get", wasmtime.FuncType(
        [wasmtime.ValType.i32()] * 4, [wasmtime.ValType.i32()]), lambda *a: -1)
    linker.define_func("edgehost", "response_set_body", wasmtime.FuncType(
        [wasmtime.ValType.i32()] * 2, [wasmtime.ValType.i32()]), set_body)
    inst = linker.instantiate(store, module)
    mem_ref["mem"] = inst.exports(store)["memory"]
    inst.exports(store)["edgehost_configure"](store)
    inst.exports(store)["hello"](store, 0, 0)
    return bytes(mem_ref["body"])


def test_miss_then_hit_then_memo(cache, tmp_path):
    settings = engine_mod.shared().settings
    m1 = cache.compile(_engine(), WASM, settings)
    assert (cache.stats.misses, cache.stats.hits) == (1, 0)
    assert len(list(cache.dir.glob(f"*{mc.SUFFIX}"))) == 1
    assert cache.compile(_engine(), WASM, settings) is m1          # same process: memo
    fresh = mc.ModuleCache(cache.dir)                               # a restart: from disk
    m2 = fresh.compile(_engine(), WASM, settings)
    assert (fresh.stats.misses, fresh.stats.hits) == (0, 1)
    assert _answer(m2) == _answer(m1) == b"cache-v1|"


def _entry(cache) -> os.PathLike:
    (p,) = list(cache.dir.glob(f"*{mc.SUFFIX}"))
    return p


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage-with-hash"])
def test_a_damaged_entry_is_detected_and_rebuilt(cache, damage, caplog):
    settings = engine_mod.shared().settings
    cache.compile(_engine(), WASM, settings)
    p = _entry(cache)
    blob = bytearray(p.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0x40
    elif damage == "truncate":
        blob = blob[: len(blob) - 100]
    elif damage == "empty":
        blob = bytearray()
    else:  # a well-formed header over bytes wasmtime never wrote
        import hashlib

        payload = os.urandom(4096)
        blob = bytearray(mc._HEADER.pack(mc.MAGIC, len(payload),
                                         hashlib.sha256(payload).digest()) + payload)
    p.write_bytes(bytes(blob))
    fresh = mc.ModuleCache(cache.dir)
    with caplog.at_level(logging.WARNING, logger="edgehost.module_cache"):
        m = fresh.compile(_engine(), WASM, settings)
    assert fresh.stats.rejected == 1 and fresh.stats.misses == 1
    assert "rebuilding" in caplog.text
    assert _answer(m) == b"cache-v1|"
    again = mc.ModuleCache(cache.dir)                   # the rebuilt entry is good
    again.compile(_engine(), WASM, settings)
    assert again.stats.hits == 1 and again.stats.rejected == 0


def test_an_entry_from_another_engine_setting_is_refused(cache):
    """A serialized module of the fuel engine, planted under the key of the
    engine without fuel, passes the integrity check and is refused by
    wasmtime -- then rebuilt, not trusted."""
    fuel = engine_mod.shared(fuel=True)
    plain = engine_mod.shared()
    other = wasmtime.Module(fuel.wasmtime, WASM)
    key = mc.entry_key(__import__("hashlib").sha256(WASM).hexdigest(), plain.settings)
    assert cache.store(key, other)
    fresh = mc.ModuleCache(cache.dir)
    m = fresh.compile(plain.wasmtime, WASM, plain.settings)
    assert fresh.stats.rejected == 1 and fresh.stats.misses == 1
    assert _answer(m) == b"cache-v1|"


def test_keys_differ_by_content_and_settings():
    a = mc.entry_key("a" * 64, "opt=speed fuel=0")
    assert a != mc.entry_key("b" * 64, "opt=speed fuel=0")
    assert a != mc.entry_key("a" * 64, "opt=speed fuel=1")


def test_full_disk_is_a_warning_not_a_failure(cache, monkeypatch, caplog):
    real = mc.tempfile.mkstemp

    def on_dev_full(*a, **kw):
        fd, name = real(*a, **kw)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name  # every write: ENOSPC

    monkeypatch.setattr(mc.tempfile, "mkstemp", on_dev_full)
    with caplog.at_level(logging.WARNING, logger="edgehost.module_cache"):
        m = cache.compile(_engine(), WASM, engine_mod.shared().settings)
    assert "disk full" in caplog.text
    assert cache.stats.write_failures == 1
    assert not list(cache.dir.glob(f"*{mc.SUFFIX}"))
    assert not [p for p in cache.dir.iterdir() if p.name.startswith(".tmp-")]
    assert _answer(m) == b"cache-v1|"


def test_a_directory_others_can_write_is_not_used(tmp_path, caplog):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o777)
    cache = mc.ModuleCache(d)
    with caplog.at_level(logging.WARNING, logger="edgehost.module_cache"):
        cache.compile(_engine(), WASM, engine_mod.shared().settings)
    assert "writable by other users" in caplog.text
    assert not list(d.iterdir())


def test_pruned_to_its_size_least_recently_used_first(tmp_path):
    cache = mc.ModuleCache(tmp_path / "m")
    settings = engine_mod.shared().settings
    for i in range(4):
        cache.compile(_engine(), support.module(f"prune-{i}"), settings)
    sizes = sorted(p.stat().st_size for p in cache.dir.iterdir())
    cache.max_bytes = sizes[-1] * 2 + 1
    cache.prune()
    assert len(list(cache.dir.glob(f"*{mc.SUFFIX}"))) == 2


def test_the_engine_compiles_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(mc.ENV, str(tmp_path / "env-cache"))
    eng = engine_mod.shared()
    eng.compile(support.module("through-engine"))
    assert len(list((tmp_path / "env-cache").glob(f"*{mc.SUFFIX}"))) == 1
    monkeypatch.setenv(mc.ENV, "off")
    assert mc.shared().dir is None
    eng.compile(support.module("cache-off"))   # still compiles
