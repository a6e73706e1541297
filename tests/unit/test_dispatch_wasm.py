"""The wasm32 build of the kernels (host/bench/wasmkernels.py): the same
sources compile for wasm32 with and without SIMD128, import nothing, and give
the native answers."""

from __future__ import annotations

import os
import shutil
import struct

import crc32c as peer
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

pytestmark = pytest.mark.toolchain
if not (shutil.which("clang") and shutil.which("wasm-ld")):
    pytest.skip("needs clang and wasm-ld for wasm32", allow_module_level=True)

from edgehost.bench.wasmkernels import WasmKernels, build  # noqa: E402

FLAVORS = ["scalar", "simd128"]


@pytest.fixture(scope="module", params=FLAVORS)
def flavor(request):
    return request.param


def test_module_imports_nothing(flavor):
    import wasmtime

    module = wasmtime.Module.from_file(wasmtime.Engine(), str(build(flavor)))
    assert list(module.imports) == []


@pytest.mark.parametrize("variant", ["byte", "slice8", "slice16"])
def test_crc32c_matches_peer(flavor, variant):
    wk = WasmKernels(flavor, force=f"crc32c={variant}")
    blob = os.urandom(70_000)
    for n, off, seed in [(0, 0, 0), (9, 0, 0), (1000, 3, 77), (65_536, 5, 0xFFFFFFFF)]:
        wk.reset()
        data = blob[off:off + n]
        wk.request(1, data=(wk.put(data), n), args=(seed,))
        status, _, value, _, _ = wk.run()
        assert status == 0 and value == peer.crc32c(data, seed)


def test_vector_matches_native(flavor):
    wk = WasmKernels(flavor)
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(1001).astype(np.float32) for _ in range(2))
    wk.request(7, data=(wk.put(a), a.nbytes), data2=(wk.put(b), b.nbytes))
    status, _, value, _, _ = wk.run()
    got = struct.unpack("<f", struct.pack("<I", value))[0]
    assert status == 0 and got == pytest.approx(vec_dot(a, b, isolation="inproc"), rel=1e-5)

    m = rng.standard_normal((300, 24)).astype(np.float32)
    q = rng.standard_normal(24).astype(np.float32)
    wk.reset()
    out = wk.alloc(80)
    wk.request(14, data=(wk.put(m), m.nbytes), data2=(wk.put(q), q.nbytes), out=(out, 80),
               args=(10, 0))
    status, _, count, out_len, _ = wk.run()
    rows = [r for r, _ in struct.iter_unpack("<If", wk.read(out, out_len))]
    assert status == 0 and count == 10
    assert rows == [r for r, _ in vec_topk(m, q, 10, "l2sq", isolation="inproc")]


def test_mismatched_lengths_rejected_in_wasm_too(flavor):
    wk = WasmKernels(flavor)
    a = np.ones(4, np.float32)
    wk.request(7, data=(wk.put(a), 16), data2=(wk.put(a), 12))
    assert wk.run()[0] == -1


VEC_OPS = {  # kernel id, native twin
    "dot": (7, lambda a, b: vec_dot(a, b, isolation="inproc")),
    "sum": (9, lambda a, b: vec_sum(a, isolation="inproc")),
    "l2norm": (10, lambda a, b: vec_l2norm(a, isolation="inproc")),
    "l2sq": (11, lambda a, b: vec_l2sq(a, b, isolation="inproc")),
    "cosine": (12, lambda a, b: vec_cosine(a, b, isolation="inproc")),
}


@pytest.mark.parametrize("n", [0, 1, 7, 31, 32, 33, 1000])
def test_every_vector_kernel_matches_native(flavor, n):
    """Covers the simd128 variant (only compiled into wasm32) kernel by kernel."""
    wk = WasmKernels(flavor)
    assert wk.variant("vector") == ("simd128" if flavor == "simd128" else "scalar")
    rng = np.random.default_rng(n)
    a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    pa, pb = wk.put(a), wk.put(b)
    for op, (kid, native) in VEC_OPS.items():
        wk.request(kid, data=(pa, a.nbytes), data2=(pb, b.nbytes))
        status, _, value, _, _ = wk.run()
        got = struct.unpack("<f", struct.pack("<I", value))[0]
        want = native(a, b)
        assert status == 0
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5, nan_ok=True), op
    out = wk.alloc(a.nbytes)
    wk.request(8, data=(pa, a.nbytes), data2=(pb, b.nbytes), out=(out, a.nbytes),
               args=(struct.unpack("<I", struct.pack("<f", 1.5))[0],))
    assert wk.run()[0] == 0
    got = np.frombuffer(wk.read(out, a.nbytes), np.float32)
    assert np.allclose(got, np.frombuffer(vec_axpy(1.5, a, b, isolation="inproc"), np.float32),
                       rtol=1e-6, atol=1e-6)
    if n:
        rows = 5
        m = rng.standard_normal((rows, n)).astype(np.float32)
        pm, out = wk.put(m), wk.alloc(4 * rows)
        wk.request(13, data=(pm, m.nbytes), data2=(pa, a.nbytes), out=(out, 4 * rows))
        assert wk.run()[0] == 0
        got = np.frombuffer(wk.read(out, 4 * rows), np.float32)
        want = np.frombuffer(vec_matvec(m, a, isolation="inproc"), np.float32)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-4)
