"""Vector kernels: one set of vectors per kernel run against every variant
(skipped only where the CPU lacks it), IEEE special values, shapes, errors."""

from __future__ import annotations

import math
import struct

import pytest

from edgehost.errors import InputError, KernelError
from edgehost.kernels import (
    vec_axpy,
    vec_cosine,
    vec_dot,
    vec_l2norm,
    vec_l2sq,
    vec_matvec,
    vec_sum,
    vec_topk,
)
from edgehost.kernels._common import call, use_variant
from edgehost.native import ffi
from tests.support import native_variants

VARIANTS = native_variants("vector")
INF, NAN = math.inf, math.nan
IN = {"isolation": "inproc"}


def f32(*xs) -> bytes:
    return struct.pack(f"<{len(xs)}f", *xs)


def ramp(n: int, scale: float = 1.0) -> bytes:
    return f32(*[(i % 7 - 3) * scale for i in range(n)])


@pytest.fixture(params=VARIANTS, autouse=True)
def variant(request):
    with use_variant("vector", request.param):
        yield request.param


# Lengths covering every tail: scalar 8-lane, AVX2 32/8, AVX-512 64/16 and masks.
LENGTHS = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 1000]


@pytest.mark.parametrize("n", LENGTHS)
def test_reductions_on_small_integers_are_exact(n):
    a = [(i % 7 - 3) for i in range(n)]
    b = [(i % 5 - 2) for i in range(n)]
    fa, fb = f32(*a), f32(*b)
    assert vec_dot(fa, fb, **IN) == sum(x * y for x, y in zip(a, b, strict=True))
    assert vec_sum(fa, **IN) == sum(a)
    assert vec_l2sq(fa, fb, **IN) == sum((x - y) ** 2 for x, y in zip(a, b, strict=True))
    assert vec_l2norm(fa, **IN) == pytest.approx(math.sqrt(sum(x * x for x in a)), rel=1e-6)
    assert list(vec_axpy(2.0, fa, fb, **IN)) == [2 * x + y for x, y in zip(a, b, strict=True)]


def test_known_values():
    assert vec_dot(f32(1, 2, 3), f32(4, 5, 6), **IN) == 32.0
    assert vec_l2norm(f32(3, 4), **IN) == 5.0
    assert vec_cosine(f32(1, 2, 3), f32(2, 4, 6), **IN) == pytest.approx(1.0, abs=1e-7)
    assert vec_cosine(f32(1, 0), f32(0, 1), **IN) == 0.0
    assert vec_cosine(f32(-1, -1), f32(1, 1), **IN) == pytest.approx(-1.0, abs=1e-7)


@pytest.mark.parametrize("n", [1, 17, 70])
def test_ieee_specials_propagate(n):
    base = [1.0] * n
    with_nan, with_inf, with_ninf = base[:], base[:], base[:]
    with_nan[n // 2] = NAN
    with_inf[n - 1] = INF
    with_ninf[0] = -INF
    assert math.isnan(vec_dot(f32(*with_nan), f32(*base), **IN))
    assert math.isnan(vec_sum(f32(*with_nan), **IN))
    assert vec_sum(f32(*with_inf), **IN) == INF
    assert vec_dot(f32(*with_inf), f32(*base), **IN) == INF
    zeros = f32(*([0.0] * n))
    assert math.isnan(vec_dot(f32(*with_inf), zeros, **IN))  # inf * 0
    if n > 1:
        both = with_inf[:]
        both[0] = -INF
        assert math.isnan(vec_sum(f32(*both), **IN))  # inf + -inf
    assert vec_l2norm(f32(*with_ninf), **IN) == INF
    assert math.isnan(vec_cosine(zeros, f32(*base), **IN))  # 0/0
    out = vec_axpy(2.0, f32(*with_nan), f32(*with_inf), **IN)
    assert math.isnan(out[n // 2]) or n // 2 == n - 1
    assert out[n - 1] == INF or math.isnan(out[n - 1])


def test_matvec():
    m = f32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)  # 4 rows x 3 cols
    assert list(vec_matvec(m, f32(1, 0, -1), **IN)) == [-2, -2, -2, -2]
    assert list(vec_matvec(m, f32(1, 1, 1, 1, 1, 1), **IN)) == [21, 57]
    assert list(vec_matvec(b"", f32(1, 2), **IN)) == []


def test_topk_orders_ties_and_nans():
    rows = [[0, 0], [1, 1], [NAN, 0], [1, 1], [-1, -1], [3, 0]]
    m = f32(*[x for r in rows for x in r])
    q = f32(1, 1)
    assert vec_topk(m, q, 3, "l2sq", **IN) == [(1, 0.0), (3, 0.0), (0, 2.0)]
    assert [r for r, _ in vec_topk(m, q, 6, "l2sq", **IN)] == [1, 3, 0, 5, 4, 2]
    assert [r for r, _ in vec_topk(m, q, 10, "dot", **IN)] == [5, 1, 3, 0, 4, 2]
    cos = vec_topk(m, q, 2, "cosine", **IN)
    assert [r for r, _ in cos] == [1, 3] and cos[0][1] == pytest.approx(1.0, abs=1e-6)
    assert vec_topk(m, q, 0, **IN) == []


def test_topk_large_k_and_many_rows():
    n, cols = 300, 19
    m = ramp(n * cols, 0.5)
    q = f32(*[0.25] * cols)
    got = vec_topk(m, q, 40, "dot", **IN)
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True) and len(got) == 40


@pytest.mark.parametrize("fn", [vec_dot, vec_l2sq, vec_cosine])
def test_length_mismatch_is_einval(fn):
    with pytest.raises(KernelError) as exc:
        fn(f32(1, 2, 3), f32(1, 2), **IN)
    assert exc.value.code == -1


def test_axpy_length_mismatch_is_einval():
    with pytest.raises(KernelError):
        vec_axpy(1.0, f32(1, 2, 3), f32(1, 2), **IN)


def test_partial_float_is_input_error():
    with pytest.raises(InputError):
        vec_sum(b"\0\0\0\0\0", **IN)


def raw(kernel: int, data: bytes, data2: bytes = b"", **kw):
    return call("vec", kernel, isolation="inproc", data=data, data2=data2, **kw)


def test_kernel_rejects_bad_shapes_and_flags():
    with pytest.raises(KernelError, match="invalid"):
        raw(9, f32(1) + b"\0")                   # not whole floats
    with pytest.raises(KernelError, match="invalid"):
        raw(9, f32(1), flags=1)                  # reserved flags
    with pytest.raises(KernelError, match="invalid"):
        raw(13, f32(1, 2, 3), f32(1, 2))         # rows not whole
    with pytest.raises(KernelError, match="invalid"):
        raw(13, f32(1, 2), b"")                  # zero columns
    with pytest.raises(KernelError, match="invalid"):
        raw(14, f32(1, 2), f32(1, 2), out_cap=8, args=(1, 3))  # unknown metric


def test_kernel_reports_space_needed():
    with pytest.raises(KernelError) as exc:
        raw(13, f32(1, 2, 3, 4), f32(1, 2), out_cap=4)
    assert exc.value.code == -2
    with pytest.raises(KernelError) as exc:
        raw(8, f32(1, 2), f32(1, 2), out_cap=4)
    assert exc.value.code == -2


def test_axpy_in_place():
    y = bytearray(f32(1, 2, 3))
    req = ffi.new("eh_offload_req *")
    res = ffi.new("eh_offload_res *")
    xb, yb = ffi.from_buffer(f32(1, 1, 1)), ffi.from_buffer(y)
    req.kernel = 8
    setattr(req, "in", int(ffi.cast("uintptr_t", xb)))
    req.in_len = req.in2_len = req.out_cap = 12
    req.in2 = req.out = int(ffi.cast("uintptr_t", yb))
    req.arg[0] = struct.unpack("<I", f32(10))[0]
    from edgehost.native import kernels_lib

    kernels_lib().eh_kernel_run(req, res)
    assert res.status == 0 and struct.unpack("<3f", y) == (11, 12, 13)


def test_empty_arrays_may_sit_anywhere():
    buf = bytearray(8)
    res, _ = raw(9, memoryview(buf)[1:1])          # empty, odd address: nothing is read
    assert res.status == 0 and res.value == 0
    assert list(vec_matvec(b"", f32(1.0), **IN)) == []
    assert list(vec_axpy(1.0, b"", b"", **IN)) == []
