"""float64 forms of the vector kernels (flags = EH_VEC_F64): every variant
against numpy/math, dtype inference from typed buffers, and the rules that
differ from float32 (8-byte alignment, no top-k)."""

from __future__ import annotations

import array
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgehost.errors import InputError, KernelError
from edgehost.kernels import (
    vec_axpy,
    vec_cosine,
    vec_dot,
    vec_l2norm,
    vec_l2sq,
    vec_matvec,
    vec_sum,
)
from edgehost.kernels._common import call, use_variant
from tests.support import runnable_variants

RUNNABLE = runnable_variants("vector")
IN = {"isolation": "inproc"}
EPS = 2.0 ** -53
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@pytest.fixture(params=RUNNABLE)
def variant(request):
    with use_variant("vector", request.param):
        yield request.param


def test_known_values(variant):
    a = array.array("d", [1, 2, 3])
    b = array.array("d", [4, 5, 6])
    assert vec_dot(a, b, **IN) == 32.0
    assert vec_sum(a, **IN) == 6.0
    assert vec_l2sq(a, b, **IN) == 27.0
    assert vec_l2norm(array.array("d", [3, 4]), **IN) == 5.0
    assert vec_cosine(a, array.array("d", [2, 4, 6]), **IN) == 1.0
    assert vec_cosine(array.array("d", [-1, -1]), array.array("d", [1, 1]), **IN) == -1.0
    assert list(vec_axpy(0.5, a, b, **IN)) == [4.5, 6.0, 7.5]
    assert vec_axpy(0.5, a, b, **IN).typecode == "d"
    assert list(vec_matvec(array.array("d", [1, 2, 3, 4]), array.array("d", [1, -1]), **IN)) \
        == [-1.0, -1.0]
    assert math.isnan(vec_dot(array.array("d", [math.inf]), array.array("d", [0.0]), **IN))
    huge = array.array("d", [1e100, 1e100])
    assert vec_cosine(huge, huge, **IN) == pytest.approx(1.0)  # |a|^2 |b|^2 overflows


@pytest.mark.parametrize("variant_name", RUNNABLE)
@settings(max_examples=40, deadline=None)
@given(ab=st.integers(0, 200).flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=finite), arrays(np.float64, n, elements=finite))),
    alpha=finite)
def test_matches_numpy(variant_name, ab, alpha):
    a, b = ab
    n = len(a)
    tol = 4 * (n + 2) * EPS
    with use_variant("vector", variant_name):
        assert abs(vec_dot(a, b, **IN) - a @ b) <= tol * np.abs(a * b).sum() + 1e-300
        assert abs(vec_sum(a, **IN) - a.sum()) <= tol * np.abs(a).sum() + 1e-300
        d2 = ((a - b) ** 2).sum()
        assert abs(vec_l2sq(a, b, **IN) - d2) <= tol * d2 + 1e-300
        got = np.frombuffer(vec_axpy(alpha, a, b, **IN), np.float64)
        # Fused or not, the error is bounded by the terms, not by the (maybe cancelled) sum.
        bound = 2 * EPS * (np.abs(alpha * a) + np.abs(b)) + 1e-300
        assert np.all(np.abs(got - (alpha * a + b)) <= bound)


def test_explicit_dtype_on_bytes():
    raw = np.array([1.25, 3.0], np.float64).tobytes()
    assert vec_sum(raw, dtype="float64", **IN) == 4.25
    assert vec_sum(raw, **IN) == 4.03125  # untyped bytes are float32: the high words add up


def test_float64_rules():
    with pytest.raises(InputError):
        vec_sum(b"\0" * 12, dtype="float64", **IN)   # not whole doubles
    with pytest.raises(KernelError):                 # no float64 top-k
        call("vec_topk", 14, isolation="inproc", data=b"\0" * 16, data2=b"\0" * 8,
             out_cap=8, args=(1, 0), flags=1)
    with pytest.raises(KernelError):                 # unknown flags
        call("vec_sum", 9, isolation="inproc", data=b"\0" * 8, flags=2)
