"""Every edgehost.* import, through the host-API probe tenant (tests/support.py,
inproc isolation)."""

from __future__ import annotations

import os
import struct
import threading
import time

import crc32c as crc32c_peer
import msgpack
import pytest

from edgehost.errors import TenantTrap
from edgehost.wasm_config import abi
from tests.support import hostapi_tenant, i32, ints

make = hostapi_tenant


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
    return abi.OFFLOAD_REQUEST.pack(kernel=kernel, arg=(arg0,), out=out, out_cap=out_cap,
                                    **{"in": in_ptr, "in_len": in_len})


def test_offload_runs_allowed_kernels_and_denies_others(t):
    data = b"123456789"
    body = t.call("offload", offload_req(1, 4096 + 64, len(data)) + data).body
    res = abi.OFFLOAD_RESULT.unpack(body)
    assert (res["status"], res["value"], i32(body, 64)) == (0, 0xE3069283, 0)
    body = t.call("offload", offload_req(abi.Kernel.JSON_VALIDATE, 4096 + 64, 2) + b"{}").body
    assert i32(body, 64) == abi.Err.DENIED  # json-validate is not in this tenant's kernels


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
    assert time.monotonic() - t0 >= 0.050  # never early (bench deadline measures the rest)
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


def test_calls_run_at_once(tmp_path):
    """Calls release the GIL: two calls of one tenant, each on its own instance,
    run at the same time -- each waits (in WASM) until the other has written
    its key. Were the calls serialised, the first would wait alone and report
    that they never met."""
    t = make(tmp_path, name="meet", limits={"deadline_ms": 60_000})
    keys = [os.urandom(8), os.urandom(8)]
    met = {}

    def run(i):
        met[i] = i32(t.call("meet", keys[i] + keys[1 - i]).body)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert met == {0: 1, 1: 1}
