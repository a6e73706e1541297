"""``edgehost bench stream``: memory bandwidth (STREAM copy, scale, add,
triad over float64) of the same kernel (native_modules/kernels/stream) run
natively in process, in a KVM guest with 2 MiB and with 4 KiB guest pages,
and compiled to wasm32 (scalar and SIMD128) under wasmtime -- the seed's
claim that code in a hardware-isolated guest runs as fast as native, and
WebAssembly does not.

Sizes: one array of ``--sizes-kib`` KiB each (three arrays for add and
triad): an in-cache size and a memory-bound one by default.

Method: native and guest figures are timed inside the kernel with the TSC,
best repetition of ``reps`` (STREAM reports its best time), best over
``--rounds`` rounds that visit every implementation in turn (machine noise
spreads over all of them); in-process runs are pinned to one core. WASM has
no cycle counter: its figure is the wall time of one call running the
repetitions inside WASM, divided by them (the Python->WASM call is amortized
over at least ~2 ms), best over the rounds. Correctness first: every
implementation's output array must equal the expected one (exactly: the same
IEEE operations), or the row says wrong and is not timed.
"""

from __future__ import annotations

import array
import time

import click

from edgehost.bench.common import COUNT, emit, int_list
from edgehost.bench.machine import pinned_thread
from edgehost.bench.report import family_table
from edgehost.errors import EdgehostError
from edgehost.native import ffi, kernels_lib, lib

STREAM = 15  # EH_KERNEL_STREAM (native_modules/include/eh_offload.h)
OPS = ((0, "copy", 16), (1, "scale", 16), (2, "add", 24), (3, "triad", 24))
SIZES_KIB = (128, 32 << 10)      # per array: L2-resident, memory-bound (3 x 32 MiB)
QUICK_SIZES_KIB = (128, 16 << 10)  # 3 x 16 MiB: still past a 32 MiB L3
SCALAR = 3.0                     # stream.c STREAM_SCALAR


class _Req:
    """An ``eh_offload_req`` over Python-owned buffers (kept alive here)."""

    def __init__(self, a, b, out_cap, op, reps):
        self.req = ffi.new("eh_offload_req *")
        self.req.kernel = STREAM
        self._in, self._in2 = ffi.from_buffer(a), ffi.from_buffer(b)
        self.out = ffi.new("uint8_t[]", max(out_cap, 8))
        setattr(self.req, "in", int(ffi.cast("uintptr_t", self._in)))
        self.req.in_len = len(self._in)
        self.req.in2 = int(ffi.cast("uintptr_t", self._in2)) if len(b) else 0
        self.req.in2_len = len(self._in2)
        self.req.out = int(ffi.cast("uintptr_t", self.out))
        self.req.out_cap = out_cap
        self.req.arg[0], self.req.arg[1] = op, reps


def _arrays(n: int) -> tuple[bytes, bytes]:
    """Two distinct float64 arrays of real (non-zero) pages: a zero-filled
    buffer may be backed by the shared zero page, which flatters reads."""
    a = array.array("d", (1.0 + (i & 1023) / 1024 for i in range(1024))) * (n // 1024 + 1)
    b = array.array("d", (2.0 - (i & 511) / 512 for i in range(1024))) * (n // 1024 + 1)
    return a[:n].tobytes(), b[:n].tobytes()


def _expected(op: int, a: bytes, b: bytes) -> bytes:
    """The output array, computed independently (numpy, else Python floats)."""
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        x, y = np.frombuffer(a, "<f8"), np.frombuffer(b, "<f8")
        return [x, SCALAR * x, x + y, x + SCALAR * y][op].astype("<f8").tobytes()
    x, y = array.array("d", a), array.array("d", b)
    if op == 0:
        return a
    if op == 1:
        return array.array("d", (SCALAR * v for v in x)).tobytes()
    if op == 2:
        return array.array("d", (u + v for u, v in zip(x, y, strict=True))).tobytes()
    return array.array("d", (u + SCALAR * v for u, v in zip(x, y, strict=True))).tobytes()


def _guests(vmm, mem_mb):
    """impl -> Guest (or the reason it is missing), 2 MiB then 4 KiB pages."""
    from edgehost import isolation

    ok, reason = isolation.kvm_status()
    out = {}
    for impl, page in (("kvm 2M pages", vmm.PAGE_2M), ("kvm 4K pages", vmm.PAGE_4K)):
        if not ok:
            out[impl] = f"KVM unavailable: {reason}"
            continue
        try:
            out[impl] = vmm.Guest(idle_spin_us=0, page_size=page, mem_mb=mem_mb,
                                  time_limit_ms=20000)
        except EdgehostError as exc:
            out[impl] = str(exc)
    return out


def _wasm(flavor):
    from edgehost.bench.wasmkernels import WasmKernels

    try:
        return WasmKernels(flavor)
    except EdgehostError as exc:
        return str(exc).splitlines()[0]


def _native_or_guest(g, r: _Req) -> float:
    """TSC ticks of the request's best repetition (native: pinned to one core)."""
    res = ffi.new("eh_offload_res *")
    if g is None:
        with pinned_thread():
            kernels_lib().eh_kernel_run(r.req, res)
    else:
        g.offload(r.req, res)
    if res.status:
        raise EdgehostError(f"stream failed with status {res.status}")
    return res.value


class _WasmRun:
    """One STREAM op placed in a WasmKernels instance."""

    def __init__(self, wk, op, a, b, n, reps):
        wk.reset()
        pa = wk.put(a)
        pb = wk.put(b) if op >= 2 else 0
        self.out = wk.alloc(8 * n)
        wk.request(STREAM, data=(pa, len(a)), data2=(pb, len(b) if op >= 2 else 0),
                   out=(self.out, 8 * n), args=(op, reps))
        self.wk, self.n, self.reps = wk, n, reps

    def seconds(self) -> float:
        t0 = time.perf_counter()
        status = self.wk.run(1)[0]
        dt = time.perf_counter() - t0
        if status:
            raise EdgehostError(f"stream failed in wasm with status {status}")
        return dt / self.reps

    def output(self) -> bytes:
        return self.wk.read(self.out, 8 * self.n)


def _same(got: bytes, want: bytes) -> bool:
    """Equal arrays; where the bytes differ, equal to 1 ulp-ish (a compiler
    may contract triad's multiply-add into one rounding)."""
    if got == want:
        return True
    try:
        import numpy as np
    except ImportError:
        return False
    x, y = np.frombuffer(got, "<f8"), np.frombuffer(want, "<f8")
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-15, atol=0))


def measure(sizes_kib, rounds: int, reps: int) -> list[dict]:
    from edgehost.isolation import guest as vmm

    tsc_per_s = lib.eh_vm_tsc_per_us() * 1e6
    rows = []
    max_n = max(sizes_kib) * 1024 // 8
    mem_mb = (16 + (3 * 8 * max_n >> 20) + 16 + 1) // 2 * 2
    guests = _guests(vmm, mem_mb)
    wasms = {"wasm scalar": _wasm("scalar"), "wasm simd128": _wasm("simd128")}
    try:
        for kib in sizes_kib:
            n = kib * 1024 // 8
            a, b = _arrays(n)
            rows += _measure_size(n, a, b, guests, wasms, rounds, reps, tsc_per_s)
    finally:
        for g in guests.values():
            if not isinstance(g, str):
                g.close()
    return rows


def _measure_size(n, a, b, guests, wasms, rounds, reps, tsc_per_s):
    impls = {"native": None, **guests, **wasms}
    best: dict[tuple[str, str], float] = {}
    notes: dict[tuple[str, str], str] = {}
    # wasm: enough repetitions inside one call to amortize the call (~2 ms)
    wasm_reps = max(1, min(1000, int(2e-3 / max(n * 8 / 5e9, 1e-9))))
    for op, name, bpe in OPS:
        want = _expected(op, a, b)
        r = _Req(a, b if op >= 2 else b"", 8 * n, op, reps)
        runs = {}
        for impl, g in impls.items():  # correctness first: a wrong answer is not timed
            if isinstance(g, str):
                continue
            try:
                if impl.startswith("wasm"):
                    run = _WasmRun(g, op, a, b, n, wasm_reps)
                    run.seconds()
                    out = run.output()
                else:
                    run = g
                    _native_or_guest(g, r)
                    out = bytes(ffi.buffer(r.out, 8 * n))
            except EdgehostError as exc:
                notes[impl, name] = f"failed: {exc}"
                continue
            if not _same(out, want):
                notes[impl, name] = "wrong output array: not timed"
                continue
            runs[impl] = run
        for _ in range(rounds):
            for impl, run in runs.items():
                if isinstance(run, _WasmRun):
                    secs = run.seconds()
                else:
                    secs = _native_or_guest(run, r) / tsc_per_s
                bw = bpe * n / secs / 1e9
                best[impl, name] = max(best.get((impl, name), 0.0), bw)
    rows = []
    for impl, g in impls.items():
        for _, name, _ in OPS:
            row = {"bench": "stream", "impl": impl, "op": name, "size": 8 * n,
                   "gbps": best.get((impl, name))}
            if isinstance(g, str):
                row["note"] = g
            elif (impl, name) in notes:
                row["note"] = notes[impl, name]
            elif impl != "native" and best.get(("native", name)):
                row["vs_native"] = round(best[impl, name] / best["native", name], 3)
            rows.append(row)
    return rows


@click.command("stream")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--sizes-kib", default=",".join(map(str, SIZES_KIB)), show_default=True,
              help="Comma-separated array sizes in KiB (one array; add/triad use three).")
@click.option("--rounds", default=9, show_default=True, type=COUNT,
              help="Interleaved rounds; each figure is the best (as STREAM reports).")
@click.option("--reps", default=8, show_default=True,
              help="Repetitions inside one native/guest call (best one counts).")
@click.option("--quick", is_flag=True,
              help=f"Sizes {','.join(map(str, QUICK_SIZES_KIB))} KiB, 3 rounds of 3 repetitions.")
def command(as_json, sizes_kib, rounds, reps, quick):
    """STREAM bandwidth: native vs KVM guest (2 MiB / 4 KiB pages) vs WASM."""
    if quick:
        sizes_kib, rounds, reps = ",".join(map(str, QUICK_SIZES_KIB)), 3, 3
    sizes = int_list(sizes_kib, "--sizes-kib")
    if not sizes or min(sizes) < 8:
        raise click.BadParameter("sizes start at 8 KiB", param_hint="--sizes-kib")
    if not 1 <= reps <= 1000:
        raise click.BadParameter("1..1000", param_hint="--reps")
    rows = measure(sizes, max(1, rounds), reps)
    if as_json:
        emit(rows, True)
    else:
        click.echo("STREAM (best of rounds; vs_native: same op and size)")
        click.echo(family_table("stream", rows))
