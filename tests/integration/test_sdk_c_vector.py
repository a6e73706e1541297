"""The C SDK's typed vector helpers (eh_vec_*) give numpy's answers, and report
refusals the documented way (return value, then res.status)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgehost.wasm_config import abi
from tests.support import REPO, built_tenant

OPS = ["dot", "sum", "l2norm", "l2sq", "cosine", "axpy", "matvec", "topk"]


@pytest.fixture(scope="module")
def probe(tmp_path_factory, c_toolchain):
    with built_tenant(REPO / "tests/integration/tenants_vector",
                      tmp_path_factory.mktemp("vec")) as t:
        yield t


def run(t, op, a, b=None, *, rows=0, k=0, metric=0, alpha=0.0, n=None):
    a = np.asarray(a, np.float32)
    b = np.asarray([] if b is None else b, np.float32)
    n = (b.size if op in ("matvec", "topk") else a.size) if n is None else n
    head = struct.pack("<5If", OPS.index(op), n, rows, k, metric, alpha)
    body = t.call("vec", head + a.tobytes() + b.tobytes()).body
    rc, status, out_len, value = struct.unpack_from("<iiII", body)
    return rc, status, out_len, value, body[16:]


def test_scalars_match_numpy(probe):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(
        np.float32)
    want = {"dot": a @ b, "sum": a.sum(), "l2norm": np.linalg.norm(a),
            "l2sq": ((a - b) ** 2).sum(), "cosine": a @ b / np.linalg.norm(a) / np.linalg.norm(b)}
    for op, w in want.items():
        rc, status, _, _, out = run(probe, op, a, b if op in ("dot", "l2sq", "cosine") else None)
        assert (rc, status) == (0, 0), op
        assert np.float32(struct.unpack("<f", out)[0]) == pytest.approx(w, rel=1e-4), op


def test_arrays_match_numpy(probe):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(300).astype(np.float32), rng.standard_normal(300).astype(np.float32)
    rc, status, _, _, out = run(probe, "axpy", x, y, alpha=2.5)
    assert (rc, status) == (0, 0)
    np.testing.assert_allclose(np.frombuffer(out, np.float32), 2.5 * x + y, rtol=1e-6,
                               atol=1e-6)  # fused or not: one rounding apart
    m, q = rng.standard_normal((50, 16)).astype(np.float32), rng.standard_normal(16).astype(
        np.float32)
    rc, status, _, value, out = run(probe, "matvec", m.ravel(), q, rows=50)
    assert (rc, status, value) == (0, 0, 50)
    np.testing.assert_allclose(np.frombuffer(out, np.float32), m @ q, rtol=1e-5, atol=1e-5)
    for metric, score, best in ((abi.VEC_METRICS["dot"], m @ q, np.argsort(-(m @ q))),
                                (abi.VEC_METRICS["l2sq"], ((m - q) ** 2).sum(1),
                                 np.argsort(((m - q) ** 2).sum(1)))):
        rc, status, _, value, out = run(probe, "topk", m.ravel(), q, rows=50, k=5, metric=metric)
        assert (rc, status, value) == (0, 0, 5)
        hits = list(struct.iter_unpack("<If", out))
        assert [r for r, _ in hits] == list(best[:5])
        np.testing.assert_allclose([s for _, s in hits], score[best[:5]], rtol=1e-4, atol=1e-5)


def test_refusals_come_back_as_documented(probe):
    # a kernel status: a metric the kernel does not know (EINVAL), nothing written
    rc, status, _, _, out = run(probe, "topk", np.ones(8), np.ones(4), rows=2, k=1, metric=9)
    assert rc == 0 and status == abi.KStatus.EINVAL and out == b""
    # too small an output: topk into 0 records still succeeds with 0 written
    rc, status, _, value, _ = run(probe, "topk", np.ones(8), np.ones(4), rows=2, k=0)
    assert (rc, status, value) == (0, 0, 0)
    # the SDK's own check: more floats than 32-bit lengths can carry
    rc, *_ = run(probe, "sum", np.ones(1), n=0x40000000)
    assert rc == abi.Err.INVALID
