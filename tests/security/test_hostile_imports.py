"""Hostile tenants against EVERY ``edgehost.*`` import: out-of-bounds and
wrapping pointers, overflowing lengths, hostile values for the non-pointer
arguments. Each attack ends in one clear trap (the instance is discarded) or
an error code, and the tenant itself and a bystander tenant keep answering.

The handlers come from wasm_config/abi.py (tests/support.py: caller_module),
and :data:`RANGES` must name every import's memory ranges: a new import
fails :func:`test_every_import_is_covered` until its attacks are listed.
"""

from __future__ import annotations

import struct

import pytest

from edgehost.errors import TenantTrap
from edgehost.wasm_config import abi
from tests.support import WAT_MEM, caller_module, record, wat_tenant

ERR = abi.ERRORS

# Per import: its memory ranges as (ptr arg, len arg) -- or (ptr arg, fixed
# size) for a struct -- and valid values for every argument.
VALID_PTR, VALID_LEN = 256, 8
RANGES: dict[str, list[tuple[int, int | str]]] = {
    "abi_nop": [],
    "log": [(1, 2)],
    "time_monotonic_ns": [],
    "time_wall_ns": [],
    "random_fill": [(0, 1)],
    "crc32c": [(0, 1)],
    "config_get": [(0, 1), (2, 3)],
    "kv_get": [(0, 1), (2, 3)],
    "kv_put": [(0, 1), (2, 3)],
    "kv_delete": [(0, 1)],
    "request_method": [(0, 1)],
    "request_path": [(0, 1)],
    "request_query": [(0, 1)],
    "request_header": [(0, 1), (2, 3)],
    "request_headers": [(0, 1)],
    "request_body": [(0, 1)],
    "response_set_status": [],
    "response_set_header": [(0, 1), (2, 3)],
    "response_set_body": [(0, 1)],
    "offload": [(0, "req"), (1, "res")],
}
FIXED = {"req": abi.OFFLOAD_REQUEST_SIZE, "res": abi.OFFLOAD_RESULT_SIZE}
# Non-pointer arguments that make the call valid.
OTHER_ARGS = {"log": {0: 1}, "crc32c": {2: 0}, "request_body": {2: 0},
              "response_set_status": {0: 200}}

# (ptr, len) pairs outside the 2-page memory, most of them wrapping 32 bits.
OUTSIDE = {
    "one-past-end": (WAT_MEM, 1),
    "straddles-end": (WAT_MEM - 1, 2),
    "empty-past-end": (WAT_MEM + 1, 0),
    "ptr-max": (0xFFFFFFFF, 1),
    "wraps-to-16": (0xFFFFFFF0, 0x20),
    "len-max": (1, 0xFFFFFFFF),
    "sum-is-2^32": (0x80000000, 0x80000000),
    "negative-len": (VALID_PTR, 0x80000000),
}
# Ranges that touch the very end or are empty: in bounds, must not trap.
EDGE_OK = {"empty-at-end": (WAT_MEM, 0), "last-bytes": (WAT_MEM - 8, 8), "empty-at-0": (0, 0)}


def valid_args(name: str) -> list[int]:
    imp = abi.IMPORTS_BY_NAME[name]
    args = [VALID_LEN] * len(imp.params)
    for ptr, size in RANGES[name]:
        args[ptr] = VALID_PTR + 64 * ptr
        if isinstance(size, int):
            args[size] = VALID_LEN
    for i, v in OTHER_ARGS.get(name, {}).items():
        args[i] = v
    return args


def pack(args) -> bytes:
    return struct.pack(f"<{len(args)}I", *(a & 0xFFFFFFFF for a in args))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return wat_tenant(caller_module(), name="hostile-imports", kernels=["crc32c"],
                      tmp=tmp_path_factory.mktemp("hostile"), config={"k": "v"})


def test_every_import_is_covered():
    assert set(RANGES) == set(abi.IMPORTS_BY_NAME)
    for name, ranges in RANGES.items():
        n = len(abi.IMPORTS_BY_NAME[name].params)
        for ptr, size in ranges:
            assert ptr < n and (not isinstance(size, int) or size < n), name


@pytest.mark.parametrize("name", list(RANGES))
def test_valid_arguments_work(hostile, name):
    hostile.call(f"call_{name}", pack(valid_args(name)))


CASES = [(name, i, ptr, size) for name, ranges in RANGES.items()
         for i, (ptr, size) in enumerate(ranges)]


@pytest.mark.parametrize("name,which,ptr_arg,size", CASES,
                         ids=[f"{c[0]}-range{c[1]}" for c in CASES])
def test_ranges_outside_memory_trap_clearly(hostile, bystander, name, which, ptr_arg, size):
    tried = 0
    for case, (ptr, length) in OUTSIDE.items():
        args = valid_args(name)
        args[ptr_arg] = ptr
        if isinstance(size, int):
            args[size] = length
        elif ptr + FIXED[size] <= WAT_MEM:
            continue  # a fixed-size struct: only the pointer is hostile
        with pytest.raises(TenantTrap) as ei:
            hostile.call(f"call_{name}", pack(args))
        msg = str(ei.value)
        assert ei.value.kind == "trap" and "\n" not in msg, (case, msg)  # one line
        assert f"edgehost.{name}" in msg and "outside linear memory" in msg, (case, msg)
        assert f"[{ptr}," in msg, (case, msg)  # the tenant's own pointer, unwrapped
        hostile.call(f"call_{name}", pack(valid_args(name)))  # a fresh instance serves
        tried += 1
    record("inputs", what=f"edgehost.{name}: range {which} outside memory", count=tried,
           outcome="each one trap naming the import; the tenant and a bystander serve")
    bystander.check()


@pytest.mark.parametrize("name,which,ptr_arg,size",
                         [c for c in CASES if isinstance(c[3], int)],
                         ids=[f"{c[0]}-range{c[1]}" for c in CASES if isinstance(c[3], int)])
def test_ranges_at_the_edge_of_memory_are_in_bounds(hostile, name, which, ptr_arg, size):
    for _case, (ptr, length) in EDGE_OK.items():
        args = valid_args(name)
        args[ptr_arg], args[size] = ptr, length
        hostile.call(f"call_{name}", pack(args))


@pytest.mark.parametrize("ptr", [WAT_MEM - abi.OFFLOAD_RESULT_SIZE + 1, WAT_MEM, 0xFFFFFFE1])
def test_offload_result_struct_past_the_end_traps(hostile, ptr):
    with pytest.raises(TenantTrap, match=r"edgehost\.offload: range .* outside linear memory"):
        hostile.call("call_offload", pack([VALID_PTR, ptr]))


# -- the offload request's own ranges and kernel id ------------------------------------
def offload_request(kernel=1, in_=0, in_len=0, in2=0, in2_len=0, out=0, out_cap=0, args=()):
    return abi.OFFLOAD_REQUEST.pack(kernel=kernel, arg=args, in2=in2, in2_len=in2_len, out=out,
                                    out_cap=out_cap, **{"in": in_, "in_len": in_len})


OFFLOAD = """
  (func (export "offload_at") (param $p i32) (param $n i32) (result i32)
    ;; the 64-byte request is the input; the result lands at 1024, rc after it
    (i32.store (i32.const 1056) (call $offload (local.get $p) (i32.const 1024)))
    (drop (call $response_set_body (i32.const 1024) (i32.const 36)))
    (i32.const 0))
"""


@pytest.fixture(scope="module")
def offloader(tmp_path_factory):
    return wat_tenant(caller_module(OFFLOAD), name="hostile-offload",
                      kernels=["crc32c", "csv-index", "vec-dot", "vec-topk"],
                      tmp=tmp_path_factory.mktemp("offload"))


@pytest.mark.parametrize("field", ["in", "in2", "out"])
def test_offload_request_ranges_trap(offloader, bystander, field):
    for case, (ptr, length) in OUTSIDE.items():
        kw = {"in_": 0, "in_len": 0, "in2": 0, "in2_len": 0, "out": 0, "out_cap": 0}
        key = "in_" if field == "in" else field
        kw[key] = ptr
        kw[{"in": "in_len", "in2": "in2_len", "out": "out_cap"}[field]] = length
        with pytest.raises(TenantTrap) as ei:
            offloader.call("offload_at", offload_request(**kw))
        assert f"edgehost.offload({field})" in str(ei.value), (case, str(ei.value))
    bystander.check()


@pytest.mark.parametrize("kernel", [abi.KERNELS["json-validate"], abi.KERNELS["stream"], 16, 63,
                                    64, 1000, 0x7FFFFFFF, 0xFFFFFFFF])
def test_offload_of_a_kernel_not_allowed_is_denied(offloader, kernel):
    body = offloader.call("offload_at", offload_request(kernel=kernel)).body
    assert struct.unpack_from("<i", body, 32)[0] == ERR["DENIED"]


def _offload(t, **kw):
    body = t.call("offload_at", offload_request(**kw)).body
    status, _detail, value, out_len, _off = struct.unpack_from("<iIQQQ", body)
    assert struct.unpack_from("<i", body, 32)[0] == 0  # the kernel ran
    return status, value, out_len


def test_offload_hostile_kernel_arguments_are_refused(offloader):
    k = abi.KERNELS
    einval, enospc = abi.KERNEL_STATUS["EINVAL"], abi.KERNEL_STATUS["ENOSPC"]
    # vectors of different lengths
    assert _offload(offloader, kernel=k["vec-dot"], in_=2048, in_len=16, in2=2048,
                    in2_len=12)[0] == einval
    # top-k: a metric that does not exist, then k = 2^64-1 over 4 rows into 8 bytes
    assert _offload(offloader, kernel=k["vec-topk"], in_=2048, in_len=64, in2=2048,
                    in2_len=16, out=3072, out_cap=64, args=(1, 1 << 63))[0] == einval
    status, _v, need = _offload(offloader, kernel=k["vec-topk"], in_=2048, in_len=64,
                                in2=2048, in2_len=16, out=3072, out_cap=8,
                                args=((1 << 64) - 1, 1))
    assert (status, need) == (enospc, 32)
    # CSV: a delimiter that is not a byte, and an index into 3 bytes of room
    assert _offload(offloader, kernel=k["csv-index"], in_=2048, in_len=16, out=3072,
                    out_cap=64, args=(0x1FF,))[0] == einval


# -- hostile values for the non-pointer arguments -------------------------------------
@pytest.mark.parametrize("level", [-1, 5, 0x7FFFFFFF, -0x80000000])
def test_log_level_out_of_range_traps(hostile, level):
    with pytest.raises(TenantTrap, match=rf"edgehost\.log: level {level} is not 0\.\.4"):
        hostile.call("call_log", pack([level, VALID_PTR, 4]))


@pytest.mark.parametrize("status", [-1, 0, 99, 600, 0x7FFFFFFF, -0x80000000])
def test_bad_http_status_is_refused_without_effect(hostile, status):
    body = hostile.call("call_response_set_status", pack([status])).body
    assert struct.unpack("<i", body)[0] == ERR["INVALID"]


@pytest.mark.parametrize("offset", [1 << 31, 0xFFFFFFFF, 13])
def test_request_body_offset_past_the_body_is_invalid(hostile, offset):
    # the body is the 12-byte argument block itself
    body = hostile.call("call_request_body", pack([VALID_PTR, 8, offset])).body
    assert struct.unpack("<i", body)[0] == ERR["INVALID"]


# -- lengths in bounds but as large as memory allows ------------------------------------
def test_whole_memory_lengths(hostile, bystander):
    whole = WAT_MEM
    for name, args, want in [
        ("random_fill", [0, whole], 0),
        ("log", [1, 0, whole], None),                    # truncated to 512 bytes
        ("kv_put", [0, whole, 0, whole], ERR["INVALID"]),  # key and value over their limits
        ("kv_get", [0, whole, 0, whole], ERR["INVALID"]),
        ("kv_delete", [0, whole], ERR["INVALID"]),
        ("config_get", [0, whole, 0, whole], ERR["NOT_FOUND"]),
        ("request_header", [0, whole, 0, whole], ERR["NOT_FOUND"]),
        ("response_set_header", [0, 5000, 0, 5000], None),  # NUL bytes: INVALID
        ("response_set_body", [0, whole], 0),
    ]:
        body = hostile.call(f"call_{name}", pack(args)).body
        if want is not None:
            assert struct.unpack_from("<i", body)[0] == want, name
    bystander.check()


HEADER_FLOOD = """
  (func (export "header_flood") (param $p i32) (param $n i32) (result i32)
    (local $i i32) (local $rc i32)
    (i32.store (i32.const 0) (i32.const 0x61616161))  ;; name/value "aaaa"
    (loop $l
      (local.set $rc (call $response_set_header (i32.const 0) (i32.const 4)
                                                (i32.const 0) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.and (i32.eqz (local.get $rc)) (i32.lt_u (local.get $i) (i32.const 100000)))))
    (i32.store (i32.const 8) (local.get $i))
    (i32.store (i32.const 12) (local.get $rc))
    (drop (call $response_set_body (i32.const 8) (i32.const 8)))
    (i32.const 0))
"""


def test_header_flood_stops_at_the_quota(tmp_path):
    t = wat_tenant(caller_module(HEADER_FLOOD), name="header-flood", tmp=tmp_path)
    r = t.call("header_flood")
    count, rc = struct.unpack("<ii", r.body)
    assert rc == ERR["QUOTA"] and count == 4096 // 10 + 1
    assert len(r.headers) == count - 1 and r.headers[0] == ("aaaa", "aaaa")
