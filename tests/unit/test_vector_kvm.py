"""The vector and CRC32C kernels give the same answers in the KVM guest as in
process, for every output-writing kernel and for back-to-back calls (the warm
path, where the guest is still spinning when the next request arrives)."""

from __future__ import annotations

import numpy as np
import pytest

from edgehost import isolation
from edgehost.kernels import crc32c, vec_axpy, vec_dot, vec_matvec, vec_topk

pytestmark = pytest.mark.kvm
if not isolation.kvm_usable():
    pytest.skip(f"KVM unusable: {isolation.kvm_status()[1]}", allow_module_level=True)


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
