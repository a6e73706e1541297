"""Leftover data: a secret written by one call, instance or tenant is never
readable by the next one that should not see it -- in linear memory (fresh
instances, instances after a trap, another tenant reusing a pooled memory
slot) and in the host's own per-call and per-tenant state (request,
response, kv, config, log lines).

By design, an instance with ``instance = "reuse"`` keeps its own linear
memory between calls of the same tenant (the warm pool); the test says so
explicitly so that the fresh-instance checks are not vacuous."""

from __future__ import annotations

import struct

import pytest

from edgehost.errors import TenantTrap
from tests.support import caller_module, wat_tenant

SECRET = 0x5EC2E75EC2E75EC2
SECRET_BYTES = struct.pack("<Q", SECRET)
PAGES = 256  # 16 MiB: more than one pooled slot's worth of small tenants

# plant: grow to PAGES and fill the whole memory with SECRET (then trap if
# asked); scan: grow to PAGES and count 8-byte words equal to SECRET.
MEMORY_PROBE = f"""
  (func $grow_to (param $pages i32)
    (if (i32.lt_u (memory.size) (local.get $pages))
      (then (drop (memory.grow (i32.sub (local.get $pages) (memory.size)))))))
  (func (export "plant") (param $p i32) (param $n i32) (result i32)
    (local $a i32) (local $trap i32)
    (local.set $trap (i32.load8_u (local.get $p)))  ;; before the fill overwrites it
    (call $grow_to (i32.const {PAGES}))
    (loop $l
      (i64.store (local.get $a) (i64.const {SECRET}))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $a) (i32.mul (memory.size) (i32.const 65536)))))
    (if (local.get $trap) (then unreachable))
    (i32.const 0))
  (func (export "scan") (param $p i32) (param $n i32) (result i32)
    (local $a i32) (local $hits i32)
    (call $grow_to (i32.const {PAGES}))
    (loop $l
      (if (i64.eq (i64.load (local.get $a)) (i64.const {SECRET}))
        (then (local.set $hits (i32.add (local.get $hits) (i32.const 1)))))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $a) (i32.mul (memory.size) (i32.const 65536)))))
    (i32.store (i32.const 0) (local.get $hits))
    (drop (call $response_set_body (i32.const 0) (i32.const 4)))
    (i32.const 0))
"""


def _tenant(tmp_path, name, **kw):
    return wat_tenant(caller_module(MEMORY_PROBE), name=name, tmp=tmp_path,
                      limits={"memory_mb": 32}, **kw)


def _hits(t) -> int:
    # a non-zero first input byte would make plant trap; scan ignores it
    return struct.unpack("<i", t.call("scan", b"\0").body)[0]


def test_reuse_keeps_the_instances_own_memory(tmp_path):
    """The control: in the warm pool a tenant sees its own earlier writes."""
    t = _tenant(tmp_path, "reuse")
    t.call("plant", b"\0")
    assert _hits(t) > 0


def test_a_fresh_instance_sees_nothing_of_the_previous_call(tmp_path):
    t = _tenant(tmp_path, "fresh", instance="fresh")
    for _ in range(3):
        t.call("plant", b"\0")
        assert _hits(t) == 0


def test_an_instance_after_a_trap_starts_clean(tmp_path):
    t = _tenant(tmp_path, "trapped")
    for _ in range(3):
        with pytest.raises(TenantTrap):
            t.call("plant", b"\1")  # fills memory, then traps: the instance is dropped
        assert _hits(t) == 0


def test_another_tenant_never_sees_a_freed_memory_slot(tmp_path):
    """Tenant A fills its memory and its instances are dropped (trap), which
    returns their pooled slots warm; tenant B's new instances take slots from
    the same pool and must find them zeroed."""
    a = _tenant(tmp_path, "planter")
    b = _tenant(tmp_path, "scanner", instance="fresh")
    for _ in range(8):
        for _ in range(4):
            with pytest.raises(TenantTrap):
                a.call("plant", b"\1")
        for _ in range(4):
            assert _hits(b) == 0


HOST_STATE = """
  ;; set a header and a body on request, otherwise report what the host shows
  (func (export "set") (param $p i32) (param $n i32) (result i32)
    (drop (call $response_set_header (local.get $p) (i32.const 6) (local.get $p) (local.get $n)))
    (drop (call $response_set_status (i32.const 299)))
    (drop (call $response_set_body (local.get $p) (local.get $n)))
    (i32.const 0))
  (func (export "nothing") (param $p i32) (param $n i32) (result i32) (i32.const 0))
"""


def test_response_state_does_not_outlive_its_call(tmp_path):
    t = wat_tenant(caller_module(HOST_STATE), name="resp-state", tmp=tmp_path)
    r = t.call("set", b"secret-value")
    assert r.headers and r.http_status == 299 and r.body == b"secret-value"
    r = t.call("nothing")
    assert (r.headers, r.http_status, r.body) == ([], 200, b"")


def _args(*vals):
    return struct.pack(f"<{len(vals)}i", *vals)


def test_request_state_does_not_outlive_its_call(tmp_path):
    t = wat_tenant(caller_module(), name="req-state", tmp=tmp_path)
    t.call("call_abi_nop", b"x" * 64, path="/secret", query="token=secret",
           headers={"authorization": "secret"})
    # the next request has no headers, path "/", no query, a 16-byte body
    name = b"authorization"
    body = _args(4096 + 16, len(name), 0, 64) + name
    assert struct.unpack("<i", t.call("call_request_header", body).body)[0] == -1
    assert struct.unpack("<i", t.call("call_request_query", _args(0, 64)).body)[0] == 0
    assert struct.unpack("<i", t.call("call_request_path", _args(0, 64)).body)[0] == 1
    # reading the request body past its end is refused, not stale bytes
    assert struct.unpack("<i", t.call("call_request_body", _args(0, 64, 13)).body)[0] == -2


def test_kv_config_and_logs_are_per_tenant(tmp_path, caplog):
    a = wat_tenant(caller_module(), name="owner", tmp=tmp_path, config={"secret": "a-only"})
    b = wat_tenant(caller_module(), name="other", tmp=tmp_path)
    key = b"secret"
    put = _args(4096 + 16, len(key), 4096 + 16, len(key)) + key
    assert struct.unpack("<i", a.call("call_kv_put", put).body)[0] == 0
    get = _args(4096 + 16, len(key), 0, 64) + key
    assert struct.unpack("<i", b.call("call_kv_get", get).body)[0] == -1
    assert struct.unpack("<i", a.call("call_kv_get", get).body)[0] == len(key)
    assert struct.unpack("<i", b.call("call_config_get", get).body)[0] == -1
    assert struct.unpack("<i", a.call("call_config_get", get).body)[0] > 0
    caplog.set_level("INFO")
    a.call("call_log", _args(1, 4096 + 12, 11) + b"a-secret-ln")
    assert b.drain_logs() == []
    assert not any(r.name.endswith(".other") for r in caplog.records)
