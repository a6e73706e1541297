"""Measuring one kernel request three ways for the kernel benchmarks
(crc32c, vector): in process (a C loop over eh_kernel_run), in the KVM guest,
and in wasm32 (a loop inside WASM). Each returns seconds per run (median);
rows are built by the callers."""

from __future__ import annotations

import time

from host.bench.common import median
from host.errors import EdgehostError
from host.native import ffi, kernels_lib


class NativeRequest:
    """An eh_offload_req over caller-owned buffers, run by a C loop."""

    def __init__(self, kernel: int, data=b"", data2=b"", out_cap: int = 0,
                 args: tuple[int, ...] = ()):
        self.req = ffi.new("eh_offload_req *")
        self.res = ffi.new("eh_offload_res *")
        self._keep = [ffi.from_buffer(data), ffi.from_buffer(data2),
                      ffi.new("uint8_t[]", max(out_cap, 1))]
        r = self.req
        r.kernel = kernel
        for i, a in enumerate(args):
            r.arg[i] = a
        setattr(r, "in", int(ffi.cast("uintptr_t", self._keep[0])))
        r.in_len = len(self._keep[0])
        r.in2 = int(ffi.cast("uintptr_t", self._keep[1]))
        r.in2_len = len(self._keep[1])
        r.out = int(ffi.cast("uintptr_t", self._keep[2]))
        r.out_cap = out_cap

    def run(self, n: int = 1):
        kernels_lib().eh_kernel_run_many(self.req, self.res, n)
        if self.res.status < 0:
            raise EdgehostError(f"kernel {self.req.kernel} failed with status {self.res.status}")
        return self.res

    def seconds(self, target_s: float, repeat: int = 5) -> float:
        return loop_seconds(self.run, target_s, repeat)


def loop_seconds(run_n, target_s: float, repeat: int = 5) -> float:
    """Median seconds per iteration of ``run_n(n)`` (which runs n iterations)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        run_n(n)
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or n >= 1 << 26:
            break
        n *= 4
    n = max(1, int(n * target_s / max(dt, 1e-9)))
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run_n(n)
        out.append((time.perf_counter() - t0) / n)
    return median(out)


def call_seconds(fn, target_s: float, repeat: int = 5) -> float:
    """Median seconds per call of a Python callable."""
    def run_n(n):
        for _ in range(n):
            fn()
    return loop_seconds(run_n, target_s, repeat)
