"""``edgehost bench vector``: float32 vector kernels by variant in process,
per Python API call, in a KVM guest (monitor's C call loop: includes copying
the inputs in) and in wasm32 (scalar, SIMD128), next to numpy
(single-threaded OpenBLAS) in the same run.

GB/s counts the bytes each operation must touch (inputs read, outputs
written), so figures compare across implementations and with STREAM."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys

import click

from edgehost.bench._kernelbench import (
    KvmRunner,
    NativeRequest,
    calls,
    interleaved_seconds,
    kernel_row,
    kernel_vs_inproc,
    pinned,
)
from edgehost.bench.common import POSITIVE_MS, emit, gbps
from edgehost.errors import EdgehostError
from edgehost.kernels import vector as vk
from edgehost.kernels._common import active_variant, f32_bits, use_variant, variants
from edgehost.native import ffi

N = 1 << 20                 # floats per vector for the 1-D operations
MATVEC = (4096, 256)        # rows x cols
TOPK = (100_000, 128, 10)   # rows x cols, k


@dataclasses.dataclass
class Case:
    """One measured operation: the request, the bytes it touches, the same
    operation through the Python API and through numpy."""

    op: str
    kernel: int
    data: object
    data2: object
    out_cap: int
    args: tuple
    nbytes: int
    api: object
    peer: object
    flags: int = 0

    def request(self) -> NativeRequest:
        return NativeRequest(self.kernel, self.data, self.data2, self.out_cap, self.args,
                             self.flags)


def _cases(np, rng):
    a = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    tmp = np.empty_like(a)
    m = rng.standard_normal(MATVEC).astype(np.float32)
    v = rng.standard_normal(MATVEC[1]).astype(np.float32)
    rows, cols, k = TOPK
    big = rng.standard_normal((rows, cols)).astype(np.float32)
    q = rng.standard_normal(cols).astype(np.float32)
    ids = vk.KERNEL_IDS
    api = {"isolation": "inproc"}

    def np_axpy():
        np.multiply(a, np.float32(1.5), out=tmp)
        return np.add(tmp, b, out=tmp)

    def np_l2sq():
        np.subtract(a, b, out=tmp)
        return np.dot(tmp, tmp)

    def np_topk_l2():
        d = big - q
        dist = np.einsum("ij,ij->i", d, d)
        return np.argpartition(dist, k)[:k]

    vec_bytes, mat_bytes = 4 * N, 4 * (m.size + v.size)
    return [
        Case("dot", ids["dot"], a, b, 0, (), 2 * vec_bytes,
             lambda: vk.vec_dot(a, b, **api), lambda: np.dot(a, b)),
        Case("axpy", ids["axpy"], a, b, vec_bytes, (f32_bits(1.5),), 3 * vec_bytes,
             lambda: vk.vec_axpy(1.5, a, b, **api), np_axpy),
        Case("sum", ids["sum"], a, b"", 0, (), vec_bytes,
             lambda: vk.vec_sum(a, **api), lambda: a.sum()),
        Case("l2norm", ids["l2norm"], a, b"", 0, (), vec_bytes,
             lambda: vk.vec_l2norm(a, **api), lambda: np.linalg.norm(a)),
        Case("l2sq", ids["l2sq"], a, b, 0, (), 2 * vec_bytes,
             lambda: vk.vec_l2sq(a, b, **api), np_l2sq),
        Case("cosine", ids["cosine"], a, b, 0, (), 2 * vec_bytes,
             lambda: vk.vec_cosine(a, b, **api),
             lambda: np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))),
        Case("matvec", ids["matvec"], m, v, 4 * MATVEC[0], (), mat_bytes + 4 * MATVEC[0],
             lambda: vk.vec_matvec(m, v, **api), lambda: m @ v),
        Case("topk-dot", ids["topk"], big, q, 8 * k, (k, 1), big.nbytes,
             lambda: vk.vec_topk(big, q, k, "dot", **api),
             lambda: np.argpartition(-(big @ q), k)[:k]),
        Case("topk-l2sq", ids["topk"], big, q, 8 * k, (k, 0), big.nbytes,
             lambda: vk.vec_topk(big, q, k, "l2sq", **api), np_topk_l2),
        Case("dot-f64", ids["dot"], a64, b64, 0, (), 4 * vec_bytes,
             lambda: vk.vec_dot(a64, b64, **api), lambda: np.dot(a64, b64), flags=vk.F64),
        Case("sum-f64", ids["sum"], a64, b"", 0, (), 2 * vec_bytes,
             lambda: vk.vec_sum(a64, **api), lambda: a64.sum(), flags=vk.F64),
    ]


def _row(op, impl, variant, isolation, size, nbytes, seconds, **extra):
    row = {"bench": "vector", "input": op, "impl": impl, "variant": variant,
           "isolation": isolation, "size": size,
           "gbps": gbps(nbytes, seconds) if seconds else None}
    row.update(extra)
    return row


def _case_row(c, variant, isolation, seconds, **extra):
    return _row(c.op, "edgehost", variant, isolation, c.data.size, c.nbytes, seconds, **extra)


def _wrong(np, c, res, req) -> str | None:
    """None when the kernel's result matches numpy's (``c.peer``) to float32
    rounding of a reassociated sum, else what differs."""
    if res.status < 0:
        return f"status {res.status}"
    want = c.peer()
    if c.op.startswith("topk"):
        raw = bytes(ffi.buffer(ffi.cast("uint8_t *", req.req.out), res.out_len))
        got = set(np.frombuffer(raw, dtype="<u4")[::2].tolist())
        return None if got == set(np.asarray(want).tolist()) else "other rows"
    if np.ndim(want):
        got = np.frombuffer(bytes(ffi.buffer(ffi.cast("uint8_t *", req.req.out), res.out_len)),
                            dtype="<f8" if c.flags else "<f4")
        ok = got.shape == np.shape(want) and np.allclose(got, want, rtol=1e-3, atol=1e-3)
        return None if ok else "array differs from numpy"
    bits = res.value if c.flags else res.value & 0xFFFFFFFF
    got = float(np.frombuffer(bits.to_bytes(8 if c.flags else 4, "little"),
                              dtype="<f8" if c.flags else "<f4")[0])
    n = c.data.size
    atol = 1e-4 if c.op == "cosine" else 1e-3 * n ** 0.5
    return None if abs(got - float(want)) <= 1e-3 * abs(float(want)) + atol else \
        f"{got!r} vs numpy {float(want)!r}"


def _wasm_rows(cases, target_s, flavors):
    from edgehost.bench.wasmkernels import WasmKernels

    for flavor in flavors:
        try:
            wk = WasmKernels(flavor)
        except EdgehostError as exc:
            yield _row("*", "edgehost", "-", f"wasm/{flavor}", 0, 0, None, note=str(exc))
            continue
        variant = wk.variant("vector")
        for c in cases:
            wk.reset()
            d1 = (wk.put(c.data), c.data.nbytes)
            d2 = (wk.put(c.data2), memoryview(c.data2).nbytes) if len(c.data2) else (0, 0)
            wk.request(c.kernel, data=d1, data2=d2, out=(wk.alloc(c.out_cap), c.out_cap),
                       args=c.args, flags=c.flags)
            status = wk.run()[0]
            if status < 0:
                yield _row(c.op, "edgehost", variant, f"wasm/{flavor}", c.data.size, c.nbytes,
                           None, note=f"status {status}")
                continue
            secs = min(wk.seconds_per_run(target_s=target_s, repeat=3))
            yield _row(c.op, "edgehost", variant, f"wasm/{flavor}", c.data.size, c.nbytes, secs)


def _kvm_rows(cases, target_s):
    """Every case in one KVM guest (best variant), by the monitor's C call loop."""
    try:
        kvm = KvmRunner()
    except EdgehostError as exc:
        return [_row(c.op, "edgehost", "best", "kvm", c.data.size, c.nbytes, None, note=str(exc))
                for c in cases]
    rows = []
    with kvm:
        for c in cases:
            req = c.request()  # owns the buffers req.req points at
            try:
                secs = kvm.seconds(req.req, target_s)
                note = "per call: input copy into the guest + doorbell + kernel + output copy"
            except EdgehostError as exc:
                secs, note = None, str(exc)
            rows.append(_row(c.op, "edgehost", "best", "kvm", c.data.size, c.nbytes, secs,
                             note=note))
            try:  # the kernel's own speed in the guest, next to the same request in process
                guest, local = kernel_vs_inproc(kvm, req.req, target_s)
            except EdgehostError as exc:
                rows.append(_row(c.op, "edgehost", "best", "kvm-kernel", c.data.size, c.nbytes,
                                 None, note=str(exc)))
                continue
            rows.append(kernel_row(functools.partial(_case_row, c), "best", guest, local))
    return rows


def _stream_reference(np, target_s):
    """STREAM triad (kernel 15) in process over 3 x 64 MiB: the memory bandwidth
    the top-k and matvec rows are held against."""
    n = 1 << 23
    a, b = np.ones(n), np.ones(n)
    req = NativeRequest(15, a, b, out_cap=8 * n, args=(3, 1))
    try:
        secs = req.seconds(target_s, repeat=3)
    except EdgehostError as exc:
        return _row("stream-triad", "stream (reference)", "-", "inproc", n, 24 * n, None,
                    note=str(exc))
    return _row("stream-triad", "stream (reference)", "-", "inproc", n, 24 * n, secs,
                note="memory bandwidth reference, 24 bytes per element")


@click.command("vector")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--target-ms", default=20.0, show_default=True, type=POSITIVE_MS,
              help="Length of one timed run; each figure is the median of 5 interleaved rounds.")
@click.option("--only", default="", help="Comma-separated operations (default: all).")
@click.option("--no-wasm", is_flag=True, help="Skip the wasm32 rows.")
def command(as_json, target_ms, only, no_wasm):
    """Vector kernels (1M floats, matvec 4096x256, top-10 of 100k x 128) vs numpy."""
    threads_note = None
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
    else:
        threads_note = "numpy was loaded before the bench: BLAS may use several threads"
    try:
        import numpy as np
    except ImportError:
        emit([{"bench": "vector", "impl": "numpy", "gbps": None,
               "note": "pip install numpy (this benchmark builds its inputs with it)"}], as_json)
        return
    target_s = target_ms / 1000
    cases = _cases(np, np.random.default_rng(0))
    if only:
        wanted = [o for o in only.split(",") if o]
        known = sorted({c.op for c in cases})
        for o in wanted:
            if o not in known:
                raise click.BadParameter(f"unknown operation {o!r} (choose from "
                                         f"{', '.join(known)})", param_hint="--only")
        cases = [c for c in cases if c.op in wanted]
    rows = []
    best = active_variant("vector")
    extra = {"note": threads_note} if threads_note else {}
    for c in cases:
        size = c.data.size
        runners = {}
        for name, ok in variants("vector"):
            if not ok:
                rows.append(_row(c.op, "edgehost", name, "inproc", size, c.nbytes, None,
                                 note="CPU lacks it"))
                continue
            req = c.request()
            with use_variant("vector", name):
                wrong = _wrong(np, c, req.run(), req)
            if wrong:  # checked before timing: a wrong answer is not timed
                rows.append(_row(c.op, "edgehost", name, "inproc", size, c.nbytes, None,
                                 note=f"wrong answer ({wrong}): not timed"))
                continue
            runners[("edgehost", name)] = pinned("vector", name, req.run)
        runners[("edgehost api", best)] = pinned("vector", best, calls(c.api))
        runners[("numpy", np.__version__)] = calls(c.peer)
        with use_variant("vector", best):  # restores the process's pin afterwards
            secs = interleaved_seconds(runners, target_s)
        rows += [_row(c.op, impl, variant, "inproc", size, c.nbytes, t,
                      **(extra if impl == "numpy" else {}))
                 for (impl, variant), t in secs.items()]
    rows.append(_stream_reference(np, target_s))
    rows += _kvm_rows(cases, target_s)
    if not no_wasm:
        rows += list(_wasm_rows(cases, target_s, ("scalar", "simd128")))
    emit(rows, as_json, title="vector kernels, float32 unless -f64 (GB/s of bytes touched)")


__all__ = ["command"]
