"""The kv imports' semantics, the same on every backend: copy-out rule,
NOT_FOUND, INVALID, QUOTA (nothing changes), per-tenant namespaces, state
that outlives a tenant's version, and the operator's Namespace API."""

from __future__ import annotations

import pytest

from edgehost.errors import ConfigError, StoreError
from tests.state.support import ERR, OP_GET, delete, get, kv, kv_tenant, put


def test_roundtrip_copy_out_and_not_found(store):
    t = kv_tenant(store)
    assert put(t, b"k", b"value-1") == 0
    assert get(t, b"k") == b"value-1"
    assert kv(t, OP_GET, b"k", cap=3) == (7, b"")       # too small: full length, no copy
    assert kv(t, OP_GET, b"k", cap=7) == (7, b"value-1")
    assert put(t, b"k", b"v2") == 0                     # overwrite
    assert get(t, b"k") == b"v2"
    assert get(t, b"nope") == ERR["NOT_FOUND"]
    assert put(t, b"empty", b"") == 0                   # an empty value exists
    assert get(t, b"empty") == b""
    assert delete(t, b"k") == 0
    assert delete(t, b"k") == ERR["NOT_FOUND"]
    assert get(t, b"k") == ERR["NOT_FOUND"]


def test_binary_keys_and_values(store):
    t = kv_tenant(store)
    key, val = bytes(range(256))[:200], bytes(range(255, -1, -1)) * 64
    assert put(t, key, val) == 0
    assert get(t, key) == val
    assert get(t, key[:-1]) == ERR["NOT_FOUND"]   # a prefix is another key
    assert put(t, b"\0", b"nul") == 0 and get(t, b"\0") == b"nul"


def test_invalid_sizes_change_nothing(store):
    t = kv_tenant(store, limits={"kv_max_key": 8, "kv_max_value": 64})
    assert put(t, b"", b"x") == ERR["INVALID"]
    assert get(t, b"") == ERR["INVALID"]
    assert delete(t, b"") == ERR["INVALID"]
    assert put(t, b"123456789", b"x") == ERR["INVALID"]
    assert get(t, b"123456789") == ERR["INVALID"]
    assert put(t, b"big", b"x" * 65) == ERR["INVALID"]
    assert put(t, b"ok", b"x" * 64) == 0
    assert t.kv_stats() == (1, 2 + 64)


def test_quota_counts_keys_and_values_and_refusal_changes_nothing(store):
    t = kv_tenant(store, limits={"kv_max_bytes": 100})
    assert put(t, b"a", b"y" * 60) == 0                 # 61 bytes
    assert put(t, b"b", b"y" * 40) == ERR["QUOTA"]      # 61 + 41 > 100
    assert get(t, b"b") == ERR["NOT_FOUND"]
    assert put(t, b"b", b"y" * 38) == 0                 # exactly 100
    assert t.kv_stats() == (2, 100)
    assert put(t, b"a", b"y" * 61) == ERR["QUOTA"]      # growing a value counts too
    assert get(t, b"a") == b"y" * 60
    assert put(t, b"a", b"z") == 0                      # shrinking frees room
    assert t.kv_stats() == (2, 2 + 39)
    assert delete(t, b"b") == 0
    assert t.kv_stats() == (1, 2)


def test_tenants_never_see_each_others_keys(store):
    a = kv_tenant(store, "alpha")
    b = kv_tenant(store, "alpha-b")    # a name that extends the other
    c = kv_tenant(store, "alph")
    assert put(a, b"secret", b"a's") == 0
    assert put(a, b"-b\0secret", b"a's tricky key") == 0
    for other in (b, c):
        assert get(other, b"secret") == ERR["NOT_FOUND"]
        assert get(other, b"-b\0secret") == ERR["NOT_FOUND"]
        assert delete(other, b"secret") == ERR["NOT_FOUND"]
        assert other.kv_stats() == (0, 0)
    assert put(b, b"secret", b"b's") == 0
    assert get(a, b"secret") == b"a's"
    assert get(b, b"secret") == b"b's"
    with store.namespace("alpha") as ns:
        assert ns.keys() == [b"-b\0secret", b"secret"]
    assert {"alpha", "alpha-b"} <= set(store.tenants())


def test_a_new_version_of_a_tenant_finds_its_state(store):
    v1 = kv_tenant(store, "reloaded")
    assert put(v1, b"visits", b"\x07") == 0
    # Another module (same ABI) under the same name: a reload.
    v2 = kv_tenant(store, "reloaded", limits={"kv_max_bytes": 4096})
    assert get(v2, b"visits") == b"\x07"
    v1.close()
    del v1
    assert put(v2, b"visits", b"\x08") == 0
    assert get(kv_tenant(store, "reloaded"), b"visits") == b"\x08"


def test_unloading_keeps_data_until_drop(any_backend):
    with any_backend.open() as store:
        t = kv_tenant(store, "leaving")
        assert put(t, b"k", b"v") == 0
        t.close()
        del t
        if any_backend.name != "memory":
            store.close()     # the store too: the data is in LMDB's file or the server
            store = any_backend.open()
        with store.namespace("leaving") as ns:
            assert ns.get(b"k") == b"v"
            ns.drop()
            assert ns.get(b"k") is None and ns.stats() == (0, 0) and ns.keys() == []
        assert "leaving" not in store.tenants()
        assert get(kv_tenant(store, "leaving"), b"k") == ERR["NOT_FOUND"]
        store.close()


def test_operator_namespace_api(store):
    with store.namespace("ops") as ns:
        assert ns.get(b"x") is None
        ns.put(b"x", b"1" * 1000)          # the operator's put: no tenant quota
        assert ns.get(b"x") == b"1" * 1000
        assert ns.stats() == (1, 1001)
        assert ns.delete(b"x") and not ns.delete(b"x")
        with pytest.raises(StoreError, match="key must be"):
            ns.get(b"")
    t = kv_tenant(store, "ops", limits={"kv_max_bytes": 10})
    with store.namespace("ops", max_bytes=10) as ns:
        with pytest.raises(StoreError, match="quota"):
            ns.put(b"k", b"x" * 10)
    assert t.kv_stats() == (0, 0)


def test_a_key_limit_the_store_cannot_hold_is_refused_at_load(backend):
    with backend.open() as store:
        if store.max_key >= 1 << 16:
            pytest.skip(f"{backend.name} holds keys of any size the manifest allows")
        with pytest.raises(ConfigError, match="limits.kv_max_key"):
            kv_tenant(store, limits={"kv_max_key": store.max_key + 1})
        t = kv_tenant(store, limits={"kv_max_key": store.max_key})
        assert put(t, b"k" * store.max_key, b"v") == 0
        assert get(t, b"k" * store.max_key) == b"v"


def test_closed_handles_say_so(store):
    ns = store.namespace("closing")
    ns.close()
    with pytest.raises(StoreError, match="closed"):
        ns.get(b"k")


def test_the_embedded_store_keeps_bytewise_key_order(tmp_path):
    """The LMDB store compares keys itself (kv_lmdb.c key_cmp: word by word,
    never reading past a key) in LMDB's default order: bytes as unsigned,
    then the shorter first. Keys that differ at every position of a word,
    in their sign bit, only in length, or around 0x00 / 0xff all come back,
    and the tree's own walk (the listing before any sort) is Python's bytes
    order; a store reopened finds them again."""
    import random

    from edgehost.native import ffi, lib
    from edgehost.state.store import _records, open_store

    rnd = random.Random(5)
    keys = {bytes([b]) * n for b in (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF) for n in (1, 7, 8, 9, 16)}
    for _ in range(600):
        base = bytes(rnd.choice((0x00, 0x41, 0x7F, 0x80, 0xFF)) for _ in range(rnd.randint(1, 24)))
        keys.add(base)
        i = rnd.randrange(len(base))
        keys.add(base[:i] + bytes([base[i] ^ (1 << rnd.randrange(8))]) + base[i + 1:])
    data = str(tmp_path / "data")
    with open_store("lmdb", data) as store, store.namespace("order") as ns:
        for k in keys:
            ns.put(k, k[::-1])
        out, n = ffi.new("uint8_t **"), ffi.new("uint64_t *")
        assert lib.eh_kv_ns_keys(ns.ptr, out, n) >= 0
        walked = [k for k in _records(out[0], n[0]) if k in keys]
        assert walked == sorted(keys)
    with open_store("lmdb", data) as store, store.namespace("order") as ns:
        assert all(ns.get(k) == k[::-1] for k in keys)
