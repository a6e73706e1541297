"""A KVM tenant's ``[config]``-only reload keeps the live version's guest: no
guest is booted (its ``creates`` counter does not move), the new version
answers with the new configuration and runs its kernels in that guest, and
the guest goes with the last version using it, whatever order the versions
are closed in. A new module or other guest settings get a guest of their
own. In ``edgehost serve`` the tenant's guest counters in /metrics go on
across such a reload."""

from __future__ import annotations

import itertools
import time

import pytest
import wasmtime

from edgehost.reload import files, pipeline
from tests.reload import support
from tests.support import Load, Server, get, metric

pytestmark = pytest.mark.kvm

# "hello" answers the msgpack of [config] greeting; "crc" answers the CRC32C of
# the body (4 bytes, little-endian), computed by the crc32c kernel (in the
# tenant's guest under kvm).
_WAT = """
(module
  (import "edgehost" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_body" (func $set_body (param i32 i32) (result i32)))
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 1000) "greeting")
  (data (i32.const 1100) "{version}")
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "hello") (param $p i32) (param $n i32) (result i32)
    (drop (call $set_body (i32.const 8192)
                (call $config_get (i32.const 1000) (i32.const 8) (i32.const 8192)
                                  (i32.const 256))))
    (i32.const 0))
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 16384) (call $crc (local.get $p) (local.get $n) (i32.const 0)))
    (drop (call $set_body (i32.const 16384) (i32.const 4)))
    (i32.const 0))
)
"""
CHECK = b"123456789"
CHECK_CRC = 0xE3069283
CHECK_BODY = CHECK_CRC.to_bytes(4, "little")


def _module(version: str = "v1") -> bytes:
    return bytes(wasmtime.wat2wasm(_WAT.format(version=version)))


def _manifest(greeting: str, deadline_ms: int = 1000) -> str:
    return (f'name = "kv"\nisolation = "kvm"\n\n[limits]\ndeadline_ms = {deadline_ms}\n\n'
            f'[routes]\n"/hello" = "hello"\n"/crc" = "crc"\n\n'
            f'[config]\ngreeting = "{greeting}"\n')


def _greeting(g: str) -> bytes:
    return bytes([0xA0 | len(g)]) + g.encode()


def _tenant_dir(root, greeting: str = "g1"):
    d = root / "kv"
    d.mkdir(parents=True, exist_ok=True)
    (d / "kv.wasm").write_bytes(_module())
    (d / "edgehost.toml").write_text(_manifest(greeting))
    return d


def _reconfigure(d, greeting: str, **kw) -> files.TenantFiles:
    (d / "edgehost.toml").write_text(_manifest(greeting, **kw))
    return files.read(d)


def _crc(loaded) -> int:
    return int.from_bytes(loaded.tenant.call("crc", CHECK).body, "little")


def test_a_config_only_reload_keeps_the_live_guest(tmp_path):
    d = _tenant_dir(tmp_path)
    v1 = pipeline.load(files.read(d))
    v2 = snap = None
    try:
        guest = v1.tenant.guest
        assert _crc(v1) == CHECK_CRC
        before = guest.stats()
        v2 = pipeline.load(_reconfigure(d, "g2"), like=v1)
        assert v2.tenant.guest is guest
        assert v2.tenant.call("hello").body == _greeting("g2")   # the new config
        assert v1.tenant.call("hello").body == _greeting("g1")   # the old one untouched
        assert _crc(v2) == CHECK_CRC
        after = guest.stats()
        assert after["creates"] == before["creates"]             # no guest booted
        assert after["calls"] == before["calls"] + 1             # v2's kernel ran there
        # its snapshot form is the same version: the same guest again
        snap = pipeline.snapshot_form(v2)
        assert snap.tenant.guest is guest and guest.stats()["creates"] == before["creates"]
        assert snap.tenant.call("hello").body == _greeting("g2") and _crc(snap) == CHECK_CRC
    finally:
        for x in (snap, v2, v1):
            if x is not None:
                x.close()
    assert guest.closed


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_closing_versions_in_any_order_never_leaves_one_with_a_closed_guest(tmp_path, order):
    d = _tenant_dir(tmp_path)
    v1 = pipeline.load(files.read(d))
    v2 = pipeline.load(_reconfigure(d, "g2"), like=v1)
    v3 = pipeline.snapshot_form(v2)
    versions = [v1, v2, v3]
    guest = v1.tenant.guest
    assert all(v.tenant.guest is guest for v in versions)
    inst = v1.tenant.instance()   # an instance of v1 outlives v1's Tenant
    open_ = set(range(3))
    try:
        for i in order:
            versions[i].close()
            open_.discard(i)
            for j in open_:
                assert not versions[j].tenant.guest.closed
                assert _crc(versions[j]) == CHECK_CRC
            assert not guest.closed                              # inst still holds v1's
        # v1's native state (and the guest it retains) still serves that instance
        resp = inst.handle("crc", b"POST", b"/crc", b"", b"\x80", CHECK)
        assert resp.status == 0 and resp.body == CHECK_BODY
    finally:
        inst.close()
        for v in versions:
            v.close()
    assert guest.closed


@pytest.mark.parametrize("change", ["module", "deadline"])
def test_a_new_module_or_other_guest_settings_get_their_own_guest(tmp_path, change):
    d = _tenant_dir(tmp_path)
    v1 = pipeline.load(files.read(d))
    try:
        if change == "module":   # untested code must not share the live version's guest
            (d / "kv.wasm").write_bytes(_module("v2"))
            tf = files.read(d)
        else:                    # the guest's time limit is the tenant's deadline_ms
            tf = _reconfigure(d, "g1", deadline_ms=2000)
        v2 = pipeline.load(tf, like=v1)
        try:
            assert v2.tenant.guest is not v1.tenant.guest
            assert _crc(v2) == CHECK_CRC and _crc(v1) == CHECK_CRC
        finally:
            v2.close()
        assert not v1.tenant.guest.closed and _crc(v1) == CHECK_CRC
    finally:
        v1.close()


def _boots(s) -> float:
    return metric(s.metrics(), "edgehost_guest_boots_total", tenant="kv")


def test_serve_reloads_a_kvm_tenants_config_in_its_live_guest(tmp_path):
    d = _tenant_dir(tmp_path / "tenants")

    def calls() -> float:
        return metric(s.metrics(), "edgehost_guest_calls_total", tenant="kv")

    with Server(tmp_path / "tenants", workers=1) as s:
        with Load(s.port, "/kv/crc", clients=2, body=CHECK) as load:
            assert get(s.port, "/kv/hello")[2] == _greeting("g1")
            # the snapshot form went live sharing the guest: one boot, counted once
            assert support.wait_for(lambda: _boots(s) == 1 and calls() > 0, timeout=60), \
                s.metrics()
            seen = [calls()]
            for g in ("g2", "g3", "g4"):
                support.write_atomic(d / "edgehost.toml", _manifest(g))
                assert support.wait_for(lambda g=g: get(s.port, "/kv/hello")[2] == _greeting(g),
                                        timeout=60)
                time.sleep(1.2)   # the old version retires; counters are published each second
                seen.append(calls())
            boots = _boots(s)
        assert load.failures() == [] and len(load.results) > 20, load.failures()[:5]
        assert get(s.port, "/kv/crc", method="POST", body=CHECK)[2] == CHECK_BODY
        done = len(load.results)
        total = calls()
    assert boots == 1, "a [config]-only reload booted a guest"
    # the live guest's counters went on across the reloads: never back, none
    # doubled by two versions sharing the guest (one kernel call per request)
    assert seen == sorted(seen) and seen[-1] > seen[0], seen
    assert total <= done + 1, (total, done)
