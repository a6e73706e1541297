"""Every edgehost.* import, through hand-written WAT tenants (inproc isolation)."""

from __future__ import annotations

import struct
import threading
import time

import crc32c as crc32c_peer
import msgpack
import pytest

from edgehost.errors import TenantTrap
from tests.conftest import wat_tenant

IMPORTS = """
  (import "edgehost" "abi_nop" (func $nop))
  (import "edgehost" "log" (func $log (param i32 i32 i32)))
  (import "edgehost" "time_monotonic_ns" (func $mono (result i64)))
  (import "edgehost" "time_wall_ns" (func $wall (result i64)))
  (import "edgehost" "random_fill" (func $rand (param i32 i32) (result i32)))
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (import "edgehost" "config_get" (func $cfg (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_get" (func $kvget (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_put" (func $kvput (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_delete" (func $kvdel (param i32 i32) (result i32)))
  (import "edgehost" "request_method" (func $method (param i32 i32) (result i32)))
  (import "edgehost" "request_path" (func $path (param i32 i32) (result i32)))
  (import "edgehost" "request_query" (func $query (param i32 i32) (result i32)))
  (import "edgehost" "request_header" (func $header (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "request_headers" (func $headers (param i32 i32) (result i32)))
  (import "edgehost" "request_body" (func $body (param i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_status" (func $status (param i32) (result i32)))
  (import "edgehost" "response_set_header" (func $sethdr (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_body" (func $setbody (param i32 i32) (result i32)))
  (import "edgehost" "offload" (func $offload (param i32 i32) (result i32)))
"""

# The input (request body) is written at 4096 by the host (edgehost_alloc).
# Handlers below read their arguments as little-endian i32s from the input and
# answer with i32/i64 results packed at 0..64, returned as the body.
HANDLERS = """
  (func $ret32 (param $v i32) (result i32)
    (i32.store (i32.const 0) (local.get $v))
    (drop (call $setbody (i32.const 0) (i32.const 4))) (i32.const 0))
  (func $arg (param $p i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4)))))

  (func (export "nop") (param $p i32) (param $n i32) (result i32)
    (call $nop) (i32.const 0))
  ;; log(level, ptr, len) with arguments from the input
  (func (export "log") (param $p i32) (param $n i32) (result i32)
    (call $log (call $arg (local.get $p) (i32.const 0)) (call $arg (local.get $p) (i32.const 1))
               (call $arg (local.get $p) (i32.const 2)))
    (i32.const 0))
  (func (export "times") (param $p i32) (param $n i32) (result i32)
    (i64.store (i32.const 0) (call $mono))
    (i64.store (i32.const 8) (call $mono))
    (i64.store (i32.const 16) (call $wall))
    (drop (call $setbody (i32.const 0) (i32.const 24))) (i32.const 0))
  (func (export "random") (param $p i32) (param $n i32) (result i32)
    (drop (call $rand (i32.const 0) (i32.const 32)))
    (drop (call $setbody (i32.const 0) (i32.const 32))) (i32.const 0))
  ;; crc32c of the whole input
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (call $ret32 (call $crc (local.get $p) (local.get $n) (i32.const 0))))
  ;; crc32c(ptr, len) with ptr/len from the input: the bounds-check probe
  (func (export "crc_at") (param $p i32) (param $n i32) (result i32)
    (call $ret32 (call $crc (call $arg (local.get $p) (i32.const 0))
                            (call $arg (local.get $p) (i32.const 1)) (i32.const 0))))
  ;; config_get(key = input, out = 64.., cap = first byte? no: cap 64); body = rc + value
  (func (export "cfg") (param $p i32) (param $n i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $cfg (local.get $p) (local.get $n) (i32.const 68) (i32.const 16)))
    (i32.store (i32.const 64) (local.get $rc))
    (drop (call $setbody (i32.const 64) (i32.const 20))) (i32.const 0))
  ;; kv: input = op(i32) klen(i32) vlen(i32) key value ; body = rc + value (get)
  (func (export "kv") (param $p i32) (param $n i32) (result i32)
    (local $op i32) (local $kl i32) (local $vl i32) (local $k i32) (local $rc i32)
    (local.set $op (call $arg (local.get $p) (i32.const 0)))
    (local.set $kl (call $arg (local.get $p) (i32.const 1)))
    (local.set $vl (call $arg (local.get $p) (i32.const 2)))
    (local.set $k (i32.add (local.get $p) (i32.const 12)))
    (if (i32.eq (local.get $op) (i32.const 0))
      (then (local.set $rc (call $kvget (local.get $k) (local.get $kl) (i32.const 1028)
                                        (local.get $vl)))))
    (if (i32.eq (local.get $op) (i32.const 1))
      (then (local.set $rc (call $kvput (local.get $k) (local.get $kl)
                    (i32.add (local.get $k) (local.get $kl)) (local.get $vl)))))
    (if (i32.eq (local.get $op) (i32.const 2))
      (then (local.set $rc (call $kvdel (local.get $k) (local.get $kl)))))
    (i32.store (i32.const 1024) (local.get $rc))
    (drop (call $setbody (i32.const 1024)
      (i32.add (i32.const 4) (select (local.get $rc) (i32.const 0)
        (i32.and (i32.eqz (local.get $op)) (i32.and (i32.gt_s (local.get $rc) (i32.const 0))
                                                    (i32.le_s (local.get $rc) (local.get $vl))))))))
    (i32.const 0))
  ;; request accessors: body = method \\n path \\n query \\n x-test header \\n headers-msgpack-len
  (func (export "req") (param $p i32) (param $n i32) (result i32)
    (local $at i32)
    (local.set $at (i32.const 0))
    (local.set $at (i32.add (local.get $at) (call $method (local.get $at) (i32.const 32))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (local.set $at (i32.add (local.get $at) (call $path (local.get $at) (i32.const 64))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (local.set $at (i32.add (local.get $at) (call $query (local.get $at) (i32.const 64))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (i64.store (i32.const 3000) (i64.const 0x747365742d78)) ;; "x-test"
    (local.set $at (i32.add (local.get $at)
      (call $header (i32.const 3000) (i32.const 6) (local.get $at) (i32.const 64))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (i32.store (local.get $at) (call $headers (i32.const 2048) (i32.const 512)))
    (i32.store (i32.add (local.get $at) (i32.const 4))
      (call $header (i32.const 3000) (i32.const 5) (i32.const 2048) (i32.const 8)))
    (drop (call $setbody (i32.const 0) (i32.add (local.get $at) (i32.const 8)))) (i32.const 0))
  ;; request_body(out=0, cap=arg0, offset=arg1) via the *request* body; body = rc + bytes
  (func (export "body_chunk") (param $p i32) (param $n i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $body (i32.const 8) (call $arg (local.get $p) (i32.const 0))
                               (call $arg (local.get $p) (i32.const 1))))
    (i32.store (i32.const 0) (local.get $rc))
    (drop (call $setbody (i32.const 0) (i32.add (i32.const 8)
                                                (call $arg (local.get $p) (i32.const 0)))))
    (i32.const 0))
  ;; response setters: status from arg0, header "x-a: b", body = rc list
  (func (export "resp") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (call $status (call $arg (local.get $p) (i32.const 0))))
    (i32.store16 (i32.const 100) (i32.const 0x612d)) ;; "-a"
    (i32.store8 (i32.const 99) (i32.const 0x78))      ;; "x"
    (i32.store8 (i32.const 110) (i32.const 0x62))     ;; "b"
    (i32.store16 (i32.const 111) (i32.const 0x0a0d))  ;; "\\r\\n"
    (i32.store (i32.const 4) (call $sethdr (i32.const 99) (i32.const 3) (i32.const 110) (i32.const 1)))
    (i32.store (i32.const 8) (call $sethdr (i32.const 99) (i32.const 3) (i32.const 110) (i32.const 3)))
    (drop (call $setbody (i32.const 0) (i32.const 12))) (i32.const 0))
  ;; offload with the 64-byte request at input+0 copied to 512; result at 640
  (func (export "offload") (param $p i32) (param $n i32) (result i32)
    (memory.copy (i32.const 512) (local.get $p) (i32.const 64))
    (i32.store (i32.const 704) (call $offload (i32.const 512) (i32.const 640)))
    (drop (call $setbody (i32.const 640) (i32.const 68))) (i32.const 0))
  (func (export "status7") (param $p i32) (param $n i32) (result i32) (i32.const 7))
  (func (export "trap") (param $p i32) (param $n i32) (result i32) unreachable)
  (func (export "spin") (param $p i32) (param $n i32) (result i32)
    (loop $l (br $l)) (i32.const 0))
  ;; spin for arg0 ms measured by the monotonic import; body = start, end
  (func (export "busy") (param $p i32) (param $n i32) (result i32)
    (local $t0 i64) (local $end i64)
    (local.set $t0 (call $mono))
    (local.set $end (i64.add (local.get $t0)
      (i64.mul (i64.extend_i32_u (call $arg (local.get $p) (i32.const 0))) (i64.const 1000000))))
    (loop $l (br_if $l (i64.lt_s (call $mono) (local.get $end))))
    (i64.store (i32.const 0) (local.get $t0))
    (i64.store (i32.const 8) (call $mono))
    (drop (call $setbody (i32.const 0) (i32.const 16))) (i32.const 0))
  (func (export "grow") (param $p i32) (param $n i32) (result i32)
    (call $ret32 (memory.grow (call $arg (local.get $p) (i32.const 0)))))
"""


def make(tmp_path, name="hostapi", **manifest):
    return wat_tenant(IMPORTS + HANDLERS, name=name, tmp=tmp_path, **manifest)


def ints(*vals):
    return struct.pack(f"<{len(vals)}i", *vals)


def i32(body, at=0):
    return struct.unpack_from("<i", body, at)[0]


@pytest.fixture
def t(tmp_path):
    return make(tmp_path, config={"greeting": "hi", "n": 42, "long": "x" * 100},
                kernels=["crc32c"])


def test_nop_and_status(t):
    assert t.call("nop").status == 0
    assert t.call("status7", check=False).status == 7


def test_log_collected_and_bad_level_traps(t):
    msg = b"hello log"
    t.call("log", ints(1, 4096 + 12, len(msg)) + msg)
    # the drain happens inside call(); the line went to Python logging
    t.call("log", ints(3, 4096 + 12, len(msg)) + msg)
    with pytest.raises(TenantTrap, match="level 9 is not 0..4"):
        t.call("log", ints(9, 4096 + 12, 1) + b"x")


def test_log_lines_reach_python_logging(t, caplog):
    caplog.set_level("INFO")
    msg = b"seen by python"
    t.call("log", ints(1, 4096 + 12, len(msg)) + msg)
    assert any("seen by python" in r.getMessage() for r in caplog.records)


def test_log_is_rate_limited_and_drops_counted(tmp_path):
    t = make(tmp_path, limits={"log_per_sec": 5})
    msg = b"spam"
    for _ in range(50):
        t.call("log", ints(1, 4096 + 12, len(msg)) + msg)
    assert 40 <= t.log_dropped <= 50


def test_times(t):
    body = t.call("times").body
    m0, m1, wall = struct.unpack("<qqq", body)
    assert 0 < m0 <= m1
    assert abs(wall - time.time_ns()) < 5e9


def test_random_fill(t):
    a, b = t.call("random").body, t.call("random").body
    assert len(a) == 32 and a != b


def test_crc32c_import_matches_peer(t):
    for data in (b"", b"123456789", bytes(range(256)) * 17):
        assert i32(t.call("crc", data).body) & 0xFFFFFFFF == crc32c_peer.crc32c(data)


def test_config_get(t):
    body = t.call("cfg", b"n").body
    assert i32(body) == len(msgpack.packb(42)) and body[4:5] == msgpack.packb(42)
    body = t.call("cfg", b"greeting").body
    assert msgpack.unpackb(body[4:4 + i32(body)]) == "hi"
    assert i32(t.call("cfg", b"missing").body) == -1
    # copy-out rule: the full length comes back, nothing is written when it does not fit
    body = t.call("cfg", b"long").body
    assert i32(body) == len(msgpack.packb("x" * 100)) and b"x" not in body[4:]


def kv(t, op, key=b"", val=b"", vlen=None):
    vlen = len(val) if vlen is None else vlen
    body = t.call("kv", ints(op, len(key), vlen) + key + val).body
    return i32(body), body[4:]


def test_kv_roundtrip_quota_and_bad_sizes(tmp_path):
    t = make(tmp_path, limits={"kv_max_bytes": 100, "kv_max_key": 8, "kv_max_value": 64})
    assert kv(t, 1, b"k", b"v1") == (0, b"")
    assert kv(t, 0, b"k", vlen=16) == (2, b"v1")
    assert kv(t, 1, b"k", b"value-2") == (0, b"")
    assert kv(t, 0, b"k", vlen=3)[0] == 7            # too small: full length, no copy
    assert kv(t, 0, b"nope", vlen=8)[0] == -1
    assert kv(t, 1, b"", b"x")[0] == -2                # empty key
    assert kv(t, 1, b"123456789", b"x")[0] == -2       # key over kv_max_key
    assert kv(t, 1, b"big", b"x" * 65)[0] == -2        # value over kv_max_value
    assert kv(t, 1, b"a", b"y" * 60)[0] == 0
    assert kv(t, 1, b"b", b"y" * 60)[0] == -3          # tenant budget (100 bytes)
    assert kv(t, 0, b"b", vlen=64)[0] == -1            # a refused put changes nothing
    assert kv(t, 2, b"a")[0] == 0
    assert kv(t, 2, b"a")[0] == -1
    assert t.kv_stats() == (1, len(b"k") + len(b"value-2"))


def test_kv_is_per_tenant(tmp_path):
    a, b = make(tmp_path, name="tenant-a"), make(tmp_path, name="tenant-b")
    kv(a, 1, b"secret", b"a's data")
    assert kv(b, 0, b"secret", vlen=16)[0] == -1
    assert kv(a, 0, b"secret", vlen=16)[1] == b"a's data"


def test_kv_many_keys(tmp_path):
    t = make(tmp_path, limits={"kv_max_bytes": 1 << 20})
    for i in range(1000):
        assert kv(t, 1, f"k{i}".encode(), str(i).encode())[0] == 0
    for i in range(0, 1000, 97):
        assert kv(t, 0, f"k{i}".encode(), vlen=8)[1] == str(i).encode()


def test_request_accessors(t):
    r = t.call("req", method="GET", path="/a/b", query="x=1&y=2",
               headers={"X-Test": "yes", "Other": "o"})
    method, path, query, hdr, rest = r.body.split(b"\n", 4)
    assert (method, path, query, hdr) == (b"GET", b"/a/b", b"x=1&y=2", b"yes")
    hlen, missing = struct.unpack("<ii", rest)
    assert hlen == len(msgpack.packb({"x-test": "yes", "other": "o"}))
    assert missing == -1  # "x-tes" is not a header


def test_request_body_chunks(t):
    data = bytes(range(100))
    # the request body is the handler input; read 16 bytes from offset 90
    body = t.call("body_chunk", ints(16, 90) + data[8:]).body
    full = ints(16, 90) + data[8:]
    assert i32(body) == len(full) - 90
    assert body[8:8 + 10] == full[90:100]
    assert i32(t.call("body_chunk", ints(4, 10_000)).body) == -2


def test_response_setters(t):
    r = t.call("resp", ints(201))
    assert r.http_status == 201 and r.headers == [("x-a", "b")]
    assert struct.unpack("<iii", r.body) == (0, 0, -2)  # CR/LF in a value is refused
    r = t.call("resp", ints(99))
    assert i32(r.body) == -2 and r.http_status == 200


def offload_req(kernel, in_ptr=0, in_len=0, out=0, out_cap=0, arg0=0):
    return struct.pack("<II4QIIIIII", kernel, 0, arg0, 0, 0, 0, in_ptr, in_len, 0, 0, out,
                       out_cap)


def test_offload_runs_allowed_kernels_and_denies_others(t):
    data = b"123456789"
    body = t.call("offload", offload_req(1, 4096 + 64, len(data)) + data).body
    status, _detail, value, _out_len, _off = struct.unpack_from("<iIQQQ", body)
    assert (status, value, i32(body, 64)) == (0, 0xE3069283, 0)
    body = t.call("offload", offload_req(4, 4096 + 64, 2) + b"{}").body
    assert i32(body, 64) == -4  # json_validate is not in this tenant's kernels


def test_offload_bad_ranges_trap(t):
    with pytest.raises(TenantTrap, match=r"offload\(in\).*outside linear memory"):
        t.call("offload", offload_req(1, 0xFFFFFF00, 0x200))
    with pytest.raises(TenantTrap, match=r"offload\(out\)"):
        t.call("offload", offload_req(1, 0, 0, 0x7FFFFFFF, 0x7FFFFFFF))


def test_traps_and_host_survives(t):
    with pytest.raises(TenantTrap) as ei:
        t.call("trap")
    assert ei.value.kind == "trap" and "unreachable" in ei.value.message
    assert t.call("nop").status == 0


def test_deadline_stops_a_runaway_call(tmp_path):
    t = make(tmp_path, limits={"deadline_ms": 50})
    t0 = time.monotonic()
    with pytest.raises(TenantTrap) as ei:
        t.call("spin")
    assert ei.value.kind == "deadline"
    assert time.monotonic() - t0 < 5.0  # generous: the limit is 50 ms
    assert t.call("nop").status == 0


def test_fuel_limit(tmp_path):
    t = make(tmp_path, limits={"fuel": 100_000})
    with pytest.raises(TenantTrap) as ei:
        t.call("spin")
    assert ei.value.kind == "fuel"
    assert t.call("nop").status == 0


def test_memory_cap(tmp_path):
    t = make(tmp_path, limits={"memory_mb": 1})  # 16 pages of 64 KiB
    assert i32(t.call("grow", ints(4)).body) == 2     # 2 -> 6 pages: fine
    assert i32(t.call("grow", ints(100)).body) == -1  # past the cap: refused


def test_two_tenants_run_at_once(tmp_path):
    """Calls release the GIL: two tenants' long calls overlap in time."""
    a, b = make(tmp_path, name="busy-a"), make(tmp_path, name="busy-b")
    spans = {}

    def run(t, key):
        spans[key] = struct.unpack("<qq", t.call("busy", ints(300)).body)

    threads = [threading.Thread(target=run, args=(a, "a")),
               threading.Thread(target=run, args=(b, "b"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    (a0, a1), (b0, b1) = spans["a"], spans["b"]
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.5 * 300e6, (spans, overlap)
