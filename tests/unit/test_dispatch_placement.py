"""A kernel's answer depends on the bytes and lengths of its buffers, never on
their addresses: a KVM call copies small buffers to 64-byte aligned guest
scratch while an in-process call sees the caller's addresses, so any
alignment rule would make the two isolations disagree (issue 16 item 11).
Every output-writing kernel and every variant, inputs and outputs at every
offset modulo 8, against the same call on aligned buffers."""

from __future__ import annotations

import ctypes
import struct

import pytest

from edgehost.kernels._common import run_request, use_variant, variants
from edgehost.kernels.json import scratch_size

F = 1.5
CSV = b'a,b,"c,d"\n1,2,3\n"x""y",,z\n'
JSON = b'{"a": [1, 2.5, {"b": null}], "c": "x\\u00e9y"}'
VEC = struct.pack("<9f", *[i * 0.5 - 2 for i in range(9)])
VEC64 = struct.pack("<9d", *[i * 0.5 - 2 for i in range(9)])
MAT = struct.pack("<12f", *range(12))
Q = struct.pack("<3f", 1, -1, 2)


def _cases():
    """(family, name, kernel, data, data2, out_cap, args, flags)"""
    s = scratch_size(len(JSON))
    f15 = struct.unpack("<I", struct.pack("<f", F))[0]
    d15 = struct.unpack("<Q", struct.pack("<d", F))[0]
    return [
        ("csv", "index", 2, CSV, b"", 4 * 16, (), 0),
        ("csv", "index-short", 2, CSV, b"", 4 * 3 + 1, (), 0),
        ("csv", "fields", 3, CSV, b"", 4 * 16 + len(CSV), (), 0),
        ("csv", "fields-exact", 3, CSV, b"", 4 * 12 + len(CSV), (), 0),
        ("json", "validate", 4, JSON, b"", s, (), 0),
        ("json", "tape", 4, JSON, b"", s + 8 * 40, (), 1),
        ("json", "tape-exact", 4, JSON, b"", s + 8 * 17, (), 1),
        ("json", "minify", 5, JSON, b"", s + len(JSON), (), 0),
        ("json", "pointer", 6, JSON, b"/a/2", s + 8 * 40 + 64, (), 0),
        ("vector", "axpy", 8, VEC, VEC, len(VEC), (f15,), 0),
        ("vector", "axpy-f64", 8, VEC64, VEC64, len(VEC64), (d15,), 1),
        ("vector", "dot", 7, VEC, VEC, 0, (), 0),
        ("vector", "matvec", 13, MAT, Q, 16, (), 0),
        ("vector", "matvec-short", 13, MAT, Q, 15, (), 0),
        ("vector", "topk", 14, MAT, Q, 32, (4, 2), 0),
        ("vector", "topk-short", 14, MAT, Q, 31, (4, 0), 0),
    ]


def _at(data: bytes, off: int) -> memoryview:
    """data at address (a 64-byte aligned base) + off."""
    raw = bytearray(len(data) + 128)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(raw))
    start = (-addr) % 64 + off
    raw[start:start + len(data)] = data
    return memoryview(raw)[start:start + len(data)]


def _out(cap: int, off: int) -> memoryview:
    return _at(bytes(cap), off)


PARAMS = [pytest.param(fam, v, c, id=f"{fam}-{v}-{c[1]}")
          for fam in ("csv", "json", "vector")
          for v, ok in variants(fam) if ok and v != "simd128"
          for c in _cases() if c[0] == fam]


@pytest.mark.parametrize(("family", "variant", "case"), PARAMS)
def test_answer_does_not_depend_on_buffer_addresses(family, variant, case):
    _, name, kernel, data, data2, cap, args, flags = case
    with use_variant(family, variant):
        want_out = _out(cap, 0) if cap else None
        want = run_request(name, kernel, "inproc", data=_at(data, 0), data2=_at(data2, 0),
                           out=want_out, args=args, flags=flags)
        for off in range(1, 8):
            out = _out(cap, off) if cap else None
            got = run_request(name, kernel, "inproc", data=_at(data, off),
                              data2=_at(data2, (off * 3) % 8), out=out, args=args, flags=flags)
            assert got == want, (off, got, want)
            n = min(got.out_len, cap) if got.status == 0 else 0
            assert bytes(out[:n] if out is not None else b"") == \
                bytes(want_out[:n] if want_out is not None else b""), off
    assert want.status != -1, want  # none of these is an argument error
