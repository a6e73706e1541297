"""Vector kernels against numpy (float64 references) on generated inputs,
for every runnable variant. Tolerances follow the float32 error bound of a
reassociated sum: a few units of 2^-24 times n times the sum of |terms|."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

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
from tests.support import runnable_variants

RUNNABLE = runnable_variants("vector")
IN = {"isolation": "inproc"}
EPS = 2.0 ** -24
finite = st.floats(-1e3, 1e3, width=32, allow_nan=False, allow_infinity=False)


def pair(max_n: int = 300):
    return st.integers(0, max_n).flatmap(
        lambda n: st.tuples(arrays(np.float32, n, elements=finite),
                            arrays(np.float32, n, elements=finite)))


def close(got: float, want: float, mag: float, n: int, atol: float = 1e-30) -> bool:
    return abs(got - want) <= 4 * (n + 2) * EPS * mag + atol


@pytest.mark.parametrize("variant", RUNNABLE)
@settings(max_examples=60, deadline=None)
@given(ab=pair(), alpha=finite)
def test_elementwise_and_reductions(variant, ab, alpha):
    a, b = ab
    a64, b64, n = a.astype(np.float64), b.astype(np.float64), len(a)
    with use_variant("vector", variant):
        assert close(vec_dot(a, b, **IN), a64 @ b64, np.abs(a64 * b64).sum(), n)
        assert close(vec_sum(a, **IN), a64.sum(), np.abs(a64).sum(), n)
        assert close(vec_l2sq(a, b, **IN), ((a64 - b64) ** 2).sum(), ((a64 - b64) ** 2).sum(), n)
        norm = np.sqrt((a64 ** 2).sum())
        # float32 squares below FLT_MIN (~1.2e-38) lose bits or flush: no scaling, like BLAS.
        assert close(vec_l2norm(a, **IN), norm, norm, n, atol=1.2e-19 * np.sqrt(n + 1))
        c = vec_cosine(a, b, **IN)
        den = np.sqrt((a64 ** 2).sum() * (b64 ** 2).sum())
        if (a64 ** 2).sum() > 1e-30 and (b64 ** 2).sum() > 1e-30:
            assert close(c, (a64 @ b64) / den, np.abs(a64 * b64).sum() / den, n)
        got = np.frombuffer(vec_axpy(alpha, a, b, **IN), np.float32)
        want = np.float32(alpha) * a64 + b64
        assert np.all(np.abs(got - want) <= 2 * EPS * (np.abs(alpha * a64) + np.abs(b64)) + 1e-30)


@pytest.mark.parametrize("variant", RUNNABLE)
@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 60), cols=st.integers(1, 40), k=st.integers(0, 70),
       seed=st.integers(0, 2**32 - 1))
def test_matvec_and_topk(variant, rows, cols, k, seed):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((rows, cols)).astype(np.float32)
    q = rng.standard_normal(cols).astype(np.float32)
    m64, q64 = m.astype(np.float64), q.astype(np.float64)
    with use_variant("vector", variant):
        mv = np.frombuffer(vec_matvec(m, q, **IN), np.float32)
        assert np.allclose(mv, m64 @ q64, rtol=0, atol=4 * (cols + 2) * EPS *
                           float(np.abs(m64 * q64).sum(1).max()) + 1e-30)
        for metric, ref in (("l2sq", ((m64 - q64) ** 2).sum(1)), ("dot", -(m64 @ q64))):
            got = vec_topk(m, q, k, metric, **IN)
            assert len(got) == min(k, rows)
            # Same set of scores as the exact ranking, up to rounding at the cut.
            want = np.sort(ref)[:len(got)]
            scores = np.array([s for _, s in got]) * (1 if metric == "l2sq" else -1)
            assert np.allclose(scores, want, rtol=1e-5, atol=1e-4)
            assert list(scores) == sorted(scores)


@pytest.mark.parametrize("variant", RUNNABLE)
@pytest.mark.parametrize("cols", [5, 16, 37, 128])
def test_topk_across_blocks_matches_numpy_ranking(variant, cols):
    rng = np.random.default_rng(cols)
    m = rng.standard_normal((1000, cols)).astype(np.float32)  # > one 256-row block
    q = rng.standard_normal(cols).astype(np.float32)
    m64, q64 = m.astype(np.float64), q.astype(np.float64)
    refs = {
        "l2sq": ((m64 - q64) ** 2).sum(1),
        "dot": -(m64 @ q64),
        "cosine": -(m64 @ q64) / (np.linalg.norm(m64, axis=1) * np.linalg.norm(q64)),
    }
    with use_variant("vector", variant):
        for metric, ref in refs.items():
            got = vec_topk(m, q, 25, metric, **IN)
            want = np.argsort(ref, kind="stable")[:25]
            # Rounding may swap near-ties; the chosen rows' exact scores must match the best 25.
            assert np.allclose(np.sort(ref[[r for r, _ in got]]), ref[want], rtol=1e-5)
        mv = np.frombuffer(vec_matvec(m, q, **IN), np.float32)
        assert np.allclose(mv, m64 @ q64, rtol=1e-4, atol=1e-4)
