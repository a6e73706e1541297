"""Vector numerics keep vector.h's promise: any value the type holds gives the
exact result within the documented bound, for every variant and both float32
and float64 -- subnormal, tiny (squares underflow), huge (squares overflow)
and mixed inputs checked against exact references (Python's Decimal at 80
digits), NaN and infinite inputs against numpy's float64 arithmetic."""

from __future__ import annotations

import math
import random
import struct
from decimal import Decimal, localcontext

import numpy as np
import pytest

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
from edgehost.kernels._common import use_variant
from tests.support import native_variants

IN = {"isolation": "inproc"}
TYPES = {  # code, unit roundoff u, smallest subnormal s, largest finite
    "float32": ("f", 2.0**-24, 2.0**-149, struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]),
    "float64": ("d", 2.0**-53, 2.0**-1074, 1.7976931348623157e308),
}
# Magnitudes (log10 ranges) per input family and type.
FAMILIES = {
    "float32": {"normal": (-3, 3), "subnormal": (-44, -39), "tiny": (-30, -20),
                "huge": (18, 38), "mixed": (-44, 38)},
    "float64": {"normal": (-3, 3), "subnormal": (-321, -309), "tiny": (-200, -155),
                "huge": (154, 307), "mixed": (-320, 307)},
}
LENGTHS = [1, 2, 5, 17, 40, 131]


@pytest.fixture(params=native_variants("vector"), autouse=True)
def variant(request):
    with use_variant("vector", request.param):
        yield request.param


def rounded(x: float, dtype: str) -> float:
    """x rounded to dtype (overflow -> inf)."""
    if dtype == "float64" or math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def values(rng: random.Random, dtype: str, family: str, n: int) -> list[float]:
    lo, hi = FAMILIES[dtype][family]
    out = [rounded(rng.choice((-1, 1)) * 10 ** rng.uniform(lo, hi), dtype) for _ in range(n)]
    return [x if x != 0 else TYPES[dtype][2] for x in out]


def pack(xs, dtype: str) -> bytes:
    return struct.pack(f"<{len(xs)}{TYPES[dtype][0]}", *xs)


def dec(x: float) -> Decimal:
    return Decimal(x)


def to_float(d: Decimal) -> float:
    return float(d)  # correctly rounded; beyond the range: inf


def bound(n: int, terms, dtype: str) -> Decimal:
    """vector.h's bound for a sum of n terms: 2 n u sum|terms| + 2 s."""
    _, u, s, _ = TYPES[dtype]
    return 2 * n * Decimal(u) * sum(terms) + 2 * Decimal(s)


def check(got: float, exact: Decimal, bound: Decimal, dtype: str, what: str) -> None:
    """got (a dtype result) equals exact within bound (+ the rounding of the
    result to dtype); exact beyond the type's range must come out as inf."""
    want = rounded(to_float(exact), dtype)
    if math.isinf(want):
        assert got == want, (what, got, want)
        return
    assert math.isfinite(got), (what, got, want)
    ulp = Decimal(abs(want)) * Decimal(TYPES[dtype][1]) + Decimal(TYPES[dtype][2])
    assert abs(dec(got) - exact) <= bound + ulp, (what, got, float(exact), float(bound))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("family", ["normal", "subnormal", "tiny", "huge", "mixed"])
def test_reductions_match_exact_references(dtype, family):
    rng = random.Random(f"{dtype}-{family}")
    u = TYPES[dtype][1]
    with localcontext() as ctx:
        ctx.prec = 80
        for n in LENGTHS:
            for _ in range(4):
                a, b = values(rng, dtype, family, n), values(rng, dtype, family, n)
                pa, pb = pack(a, dtype), pack(b, dtype)
                da, db = [dec(x) for x in a], [dec(x) for x in b]
                prods = [x * y for x, y in zip(da, db, strict=True)]
                check(vec_dot(pa, pb, dtype=dtype, **IN), sum(prods),
                      bound(n, (abs(p) for p in prods), dtype), dtype, f"dot n={n}")
                check(vec_sum(pa, dtype=dtype, **IN), sum(da),
                      bound(n, (abs(x) for x in da), dtype), dtype, f"sum n={n}")
                diffs = [(x - y) ** 2 for x, y in zip(da, db, strict=True)]
                check(vec_l2sq(pa, pb, dtype=dtype, **IN), sum(diffs), bound(n, diffs, dtype),
                      dtype, f"l2sq n={n}")
                norm = sum(x * x for x in da).sqrt()
                check(vec_l2norm(pa, dtype=dtype, **IN), norm,
                      norm * (Decimal(n) / 2 + 2) * Decimal(u), dtype, f"l2norm n={n}")
                cos = sum(prods) / (norm * sum(y * y for y in db).sqrt())
                got = vec_cosine(pa, pb, dtype=dtype, **IN)
                assert abs(dec(got) - cos) <= (2 * n + 4) * Decimal(u), (n, got, float(cos))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("family", ["normal", "subnormal", "huge", "mixed"])
def test_matvec_rows_and_axpy_match_exact_references(dtype, family):
    rng = random.Random(f"mv-{dtype}-{family}")
    _, u, s, _ = TYPES[dtype]
    with localcontext() as ctx:
        ctx.prec = 80
        rows, cols = 9, 13
        m = values(rng, dtype, family, rows * cols)
        v = values(rng, dtype, family, cols)
        out = vec_matvec(pack(m, dtype), pack(v, dtype), dtype=dtype, **IN)
        for r in range(rows):
            prods = [dec(x) * dec(y) for x, y in zip(m[r * cols:(r + 1) * cols], v, strict=True)]
            bound = 2 * cols * Decimal(u) * sum(abs(p) for p in prods) + 2 * Decimal(s)
            check(out[r], sum(prods), bound, dtype, f"matvec row {r}")
        x, y = values(rng, dtype, family, 37), values(rng, dtype, family, 37)
        alpha = values(rng, dtype, family, 1)[0]
        for i, got in enumerate(vec_axpy(alpha, pack(x, dtype), pack(y, dtype), dtype=dtype,
                                         **IN)):
            ax = dec(alpha) * dec(x[i])  # one rounding; float64 without FMA: + u |alpha x|
            check(got, ax + dec(y[i]), (abs(ax) + abs(ax + dec(y[i]))) * Decimal(u), dtype,
                  f"axpy {i}")


def test_axpy_does_not_overflow_where_the_result_fits():
    big = TYPES["float32"][3]
    out = vec_axpy(2.0, pack([big], "float32"), pack([-big], "float32"), **IN)
    assert out[0] == pytest.approx(big, rel=1e-7)
    big = TYPES["float64"][3]
    out = vec_axpy(2.0, pack([big], "float64"), pack([-big], "float64"), dtype="float64", **IN)
    assert out[0] == big


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_reported_cases(dtype):
    """Issue 16 item 8, in both types (expected values exact)."""
    f = lambda *xs: pack(list(xs), dtype)  # noqa: E731
    tiny = 1e-40 if dtype == "float32" else 1e-310
    assert vec_cosine(f(tiny), f(1), dtype=dtype, **IN) == 1.0
    assert vec_cosine(f(2e19, 1e19), f(1, 2), dtype=dtype, **IN) == pytest.approx(0.8, rel=1e-6)
    assert vec_l2norm(f(2e19, 1e19), dtype=dtype, **IN) == pytest.approx(2.2360679e19, rel=1e-6)
    sub = rounded(tiny, dtype)
    assert vec_l2norm(f(sub), dtype=dtype, **IN) == sub
    assert vec_l2norm(f(3 * sub, 4 * sub), dtype=dtype, **IN) == pytest.approx(5 * sub,
                                                                                 rel=1e-6)
    if dtype == "float64":
        assert vec_l2norm(f(1e300, 1e300), dtype=dtype, **IN) == pytest.approx(
            math.hypot(1e300, 1e300), rel=1e-15)
        assert vec_cosine(f(1e200, 1e-200), f(1e200, 1e200), dtype=dtype, **IN) == \
            pytest.approx(math.sqrt(0.5), rel=1e-15)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2sq"])
def test_topk_ranks_subnormal_and_huge_rows_by_their_true_scores(metric):
    """A subnormal row has a finite cosine (here 1: it is parallel to q),
    never inf; huge rows do not overflow into inf or NaN unless their exact
    score does not fit float32 (l2sq of the 6e19 row: 4.5e39 -> inf)."""
    rows = [[1e-40, 2e-40], [1.0, 0.0], [0.6, 0.8], [3e19, 6e19], [-1.0, -2.0]]
    m = pack([x for r in rows for x in r], "float32")
    q = pack([1.0, 2.0], "float32")
    got = dict(vec_topk(m, q, 5, metric, **IN))
    with localcontext() as ctx:
        ctx.prec = 80
        for r, row in enumerate(rows):
            a = [dec(rounded(x, "float32")) for x in row]
            dq = [Decimal(1), Decimal(2)]
            dot = sum(x * y for x, y in zip(a, dq, strict=True))
            if metric == "cosine":
                want = dot / (sum(x * x for x in a).sqrt() * Decimal(5).sqrt())
            elif metric == "dot":
                want = dot
            else:
                want = sum((x - y) ** 2 for x, y in zip(a, dq, strict=True))
            if abs(want) > Decimal(TYPES["float32"][3]):
                assert got[r] == math.copysign(math.inf, want), (r, got[r], float(want))
                continue
            assert abs(dec(got[r]) - want) <= abs(want) * Decimal(2.0**-21) + Decimal(1e-44), \
                (r, got[r], float(want))
    if metric == "cosine":
        assert got[0] == pytest.approx(1.0) and got[3] == pytest.approx(1.0)


SPECIAL = [
    [math.nan, 1.0, 2.0], [math.inf, 1.0, 2.0], [-math.inf, math.inf, 1.0], [math.inf, 0.0, 1.0],
    [1.0, 2.0, 3.0],
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a", SPECIAL)
@pytest.mark.parametrize("b", SPECIAL)
def test_nan_and_infinity_follow_ieee_like_numpy(dtype, a, b):
    """NaN and inf come out where numpy's float64 arithmetic gives them (and
    only there): same NaN-ness, same infinity."""
    npt = np.float32 if dtype == "float32" else np.float64
    a64, b64 = np.array(a, np.float64), np.array(b, np.float64)
    pa, pb = np.array(a, npt).tobytes(), np.array(b, npt).tobytes()
    with np.errstate(all="ignore"):
        refs = {
            "dot": float(np.dot(a64, b64)), "sum": float(a64.sum()),
            "l2sq": float(np.sum((a64 - b64) ** 2)),
            "l2norm": float(np.sqrt(np.sum(a64 * a64))),
        }
    got = {
        "dot": vec_dot(pa, pb, dtype=dtype, **IN), "sum": vec_sum(pa, dtype=dtype, **IN),
        "l2sq": vec_l2sq(pa, pb, dtype=dtype, **IN), "l2norm": vec_l2norm(pa, dtype=dtype, **IN),
    }
    for k, ref in refs.items():
        if math.isnan(ref):
            assert math.isnan(got[k]), (k, got[k])
        elif math.isinf(ref):
            assert got[k] == ref, (k, got[k], ref)
        else:
            assert got[k] == pytest.approx(ref, rel=1e-6), (k, got[k], ref)
    cos = vec_cosine(pa, pb, dtype=dtype, **IN)
    finite = all(map(math.isfinite, a + b))
    assert math.isnan(cos) if not finite else -1 <= cos <= 1 + 1e-6


def test_float64_dot_when_large_elements_never_meet():
    """Found by the fuzzer (tests/fuzz/corpus/vector) in the float64
    recomputation (the fast result, 4e-287, is below 2^-900): scaling a and b
    by their own largest elements pushed every product below the subnormals;
    each product is now scaled by the largest product's exponent."""
    a = [-3.5552830109958724e126, 1.3980432860952916e-76, 0.0]
    b = [0.0, 2.874467266255113e-211, 1.2544247298216784e88]
    with localcontext() as ctx:
        ctx.prec = 80
        exact = sum(dec(x) * dec(y) for x, y in zip(a, b, strict=True))
    got = vec_dot(pack(a, "float64"), pack(b, "float64"), dtype="float64", **IN)
    assert got == float(exact) != 0


def test_float64_dot_with_an_infinite_term_and_an_overflowing_one():
    """Found by the fuzzer (tests/fuzz/corpus/vector): a product that
    overflows to +inf next to a -inf input is still -inf exactly (the finite
    product only adds a finite amount); summing it as +inf gave NaN."""
    a = [-2.1245519712670684e183, 8.91238232205e-313, 1.0]
    b = [-1.5324913274686761e144, -math.inf, 2.0]
    got = vec_dot(pack(a, "float64"), pack(b, "float64"), dtype="float64", **IN)
    assert got == -math.inf
    assert math.isnan(vec_dot(pack(a + [math.inf], "float64"), pack(b + [1.0], "float64"),
                              dtype="float64", **IN))  # -inf + inf stays NaN
