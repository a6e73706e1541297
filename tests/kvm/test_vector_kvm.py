"""The vector and CRC32C kernels give the same answers in the KVM guest as in
process, for every output-writing kernel and for back-to-back calls (the warm
path, where the guest is still spinning when the next request arrives); the
vector numerics (vector.h) hold in the guest for every variant, bit for bit
the in-process results, and give the values of issue 16 item 8."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
import pytest

from edgehost.kernels import (
    crc32c,
    vec_axpy,
    vec_cosine,
    vec_dot,
    vec_l2norm,
    vec_matvec,
    vec_topk,
)
from edgehost.kernels._common import KernelResult, run_request, use_variant, variants
from edgehost.native import ffi
from edgehost.wasm_config import abi

pytestmark = pytest.mark.kvm


def both(fn, *args, **kw):
    return fn(*args, isolation="inproc", **kw), fn(*args, isolation="kvm", **kw)


def test_scalar_results_match():
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(10_000).astype(np.float32) for _ in range(2))
    here, there = both(vec_dot, a, b)
    assert here == there
    data = rng.bytes(100_000)
    assert crc32c(data, isolation="kvm") == crc32c(data, isolation="inproc")


@pytest.mark.parametrize("calls", [1, 20])
def test_output_buffers_match_back_to_back(calls):
    rng = np.random.default_rng(2)
    x, y = (rng.standard_normal(1000).astype(np.float32) for _ in range(2))
    m = rng.standard_normal((300, 16)).astype(np.float32)
    q = rng.standard_normal(16).astype(np.float32)
    cases = [(vec_axpy, (2.0, x, y)), (vec_matvec, (m, q)), (vec_topk, (m, q, 5))]
    for fn, args in cases:
        want = fn(*args, isolation="inproc")
        got = [fn(*args, isolation="kvm") for _ in range(calls)]  # no pause between calls
        bad = [i for i, g in enumerate(got) if list(g) != list(want)]
        assert not bad, f"{fn.__name__}: kvm output differs on calls {bad}"


# --- numerics in the guest, per variant ---------------------------------------

KERNELS = {op: abi.KERNELS[f"vec-{op}"]
           for op in ("dot", "sum", "l2norm", "l2sq", "cosine", "matvec")}
RUNNABLE = [name for name, ok in variants("vector") if ok and name != "simd128"]


def pack(xs, dtype):
    return struct.pack(f"<{len(xs)}{'f' if dtype == 'float32' else 'd'}", *xs)


def cases(dtype):
    """Inputs that overflow or underflow the fast path (the guard's territory)."""
    rng = random.Random(dtype)
    lo, hi = (-44, 38) if dtype == "float32" else (-320, 307)
    out = [(pack([1e-40 if dtype == "float32" else 1e-310], dtype), pack([1.0], dtype)),
           (pack([2e19, 1e19], dtype), pack([1.0, 2.0], dtype))]
    for n in (3, 17, 64):
        vals = [[rng.choice((-1, 1)) * 10 ** rng.uniform(lo, hi) for _ in range(n)]
                for _ in range(2)]
        if dtype == "float32":
            vals = [[max(min(v, 3e38), -3e38) for v in vs] for vs in vals]
        out.append((pack(vals[0], dtype), pack(vals[1], dtype)))
    return out


def run(guest, kernel, a, b, flags, out_cap=0):
    """One request in ``guest`` (None: in process); (result, output bytes)."""
    out = bytearray(out_cap) if out_cap else None
    if guest is None:
        res = run_request("vec", kernel, "inproc", data=a, data2=b, out=out, flags=flags)
        return res, bytes(out or b"")
    req, r = ffi.new("eh_offload_req *"), ffi.new("eh_offload_res *")
    keep = [ffi.from_buffer(a), ffi.from_buffer(b), ffi.from_buffer(out) if out else ffi.NULL]
    from edgehost.native import lib

    lib.eh_req_fill(req, kernel, flags, keep[0], len(a), keep[1], len(b), keep[2], out_cap)
    guest.offload(req, r)
    return KernelResult(r.status, r.detail, r.value, r.out_len, r.err_offset), bytes(out or b"")


@pytest.mark.parametrize("variant", RUNNABLE)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numerics_in_the_guest_are_the_in_process_bits(make_guest, variant, dtype):
    guest = make_guest(variant=f"vector={variant}")
    flags = 1 if dtype == "float64" else 0
    with use_variant("vector", variant):
        for a, b in cases(dtype):
            for name, kernel in KERNELS.items():
                bb = b"" if name in ("sum", "l2norm") else b
                cap = 8 if name == "matvec" else 0  # a as a one-row matrix times b
                here, out_here = run(None, kernel, a, bb, flags, cap)
                there, out_there = run(guest, kernel, a, bb, flags, cap)
                assert (here, out_here) == (there, out_there), (variant, dtype, name)


def test_reported_cases_in_the_guest():
    """Issue 16 item 8 through the Python API with isolation kvm."""
    f = lambda *xs: pack(list(xs), "float32")  # noqa: E731
    kvm = {"isolation": "kvm"}
    assert vec_cosine(f(1e-40), f(1), **kvm) == 1.0
    assert vec_cosine(f(2e19, 1e19), f(1, 2), **kvm) == pytest.approx(0.8, rel=1e-6)
    assert vec_l2norm(f(2e19, 1e19), **kvm) == pytest.approx(2.2360679e19, rel=1e-6)
    sub = struct.unpack("<f", f(1e-40))[0]
    assert vec_l2norm(f(sub), **kvm) == sub
    top = vec_topk(f(1e-40, 2e-40, 1.0, 0.0), f(1.0, 2.0), 2, "cosine", **kvm)
    assert all(math.isfinite(s) for _, s in top) and top[0] == (0, pytest.approx(1.0))
