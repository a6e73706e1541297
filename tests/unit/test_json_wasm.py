"""The JSON and CSV kernels compiled to wasm32 (host/bench/wasmkernels.py):
the scalar and the hand-written SIMD128 variants give the native answers."""

from __future__ import annotations

import shutil

import pytest

from edgehost.kernels import csv as ck
from edgehost.kernels import json as jk

pytestmark = pytest.mark.toolchain
if not (shutil.which("clang") and shutil.which("wasm-ld")):
    pytest.skip("needs clang and wasm-ld for wasm32", allow_module_level=True)

from edgehost.bench.wasmkernels import WasmKernels  # noqa: E402

RUNS = [("scalar", "scalar"), ("simd128", "scalar"), ("simd128", "simd128")]


@pytest.fixture(scope="module", params=RUNS, ids=lambda r: f"{r[0]}-{r[1]}")
def wasm(request):
    flavor, variant = request.param
    return WasmKernels(flavor, force=f"json={variant},csv={variant}")


def _out(wk, cap):
    out = wk.alloc(cap + 4)
    return out + (-out % 4)


def test_json_validate_matches_native(wasm):
    from edgehost.bench.json import twitter_like

    doc = twitter_like(40_000)
    cases = [doc, doc[:-1], doc[:30_000], b'["a\\ud800"]', b'[1,2,]', b'"\xe2\x82"', b"01",
             b'{"k": [true, null, -1.5e3]}']
    for d in cases:
        wasm.reset()
        cap = jk.scratch_size(len(d))
        wasm.request(jk.KERNEL_VALIDATE, data=(wasm.put(d), len(d)), out=(_out(wasm, cap), cap))
        status, detail, _, _, off = wasm.run()
        got = None if status == 0 else (jk.ERROR_KINDS[detail], off)
        assert got == jk.json_check(d, isolation="inproc"), d[:40]


def test_json_pointer_double_in_wasm(wasm):
    d = b'{"x": [0.1, 2.4703282292062328e-324, 18446744073709551615]}'
    for ptr, want in [(b"/x/0", 0.1), (b"/x/1", 5e-324)]:
        wasm.reset()
        cap = jk.scratch_size(len(d)) + 256
        wasm.request(jk.KERNEL_POINTER, data=(wasm.put(d), len(d)), data2=(wasm.put(ptr), len(ptr)),
                     out=(_out(wasm, cap), cap))
        status, detail, value, _, _ = wasm.run()
        native = jk.json_pointer(d, ptr, isolation="inproc")
        assert (status, jk.TYPES[detail]) == (0, "double") and native.double == want
        assert value == int.from_bytes(__import__("struct").pack("<d", want), "little")


def test_csv_index_matches_native(wasm):
    from edgehost.bench.csv import mixed_csv

    data = mixed_csv(50_000)
    ref = ck.csv_index(data, isolation="inproc").ends
    wasm.reset()
    cap = 4 * len(ref)
    out = _out(wasm, cap)
    wasm.request(ck.KERNEL_INDEX, data=(wasm.put(data), len(data)), out=(out, cap), args=(44, 34))
    status, _, value, out_len, _ = wasm.run()
    assert status == 0 and value & 0xFFFF_FFFF == len(ref)
    assert wasm.read(out, out_len) == ref.tobytes()
