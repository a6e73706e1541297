"""Measuring one kernel request three ways for the kernel benchmarks
(crc32c, vector): in process (a C loop over eh_kernel_run), in the KVM guest,
and in wasm32 (a loop inside WASM). Each returns seconds per run (median);
rows are built by the callers."""

from __future__ import annotations

import time

from edgehost.bench.common import median
from edgehost.errors import EdgehostError, IsolationUnavailable
from edgehost.kernels._common import use_variant, variants
from edgehost.native import ffi, kernels_lib


class NativeRequest:
    """An eh_offload_req over caller-owned buffers, run by a C loop."""

    def __init__(self, kernel: int, data=b"", data2=b"", out_cap: int = 0,
                 args: tuple[int, ...] = (), flags: int = 0):
        self.req = ffi.new("eh_offload_req *")
        self.res = ffi.new("eh_offload_res *")
        self._keep = [ffi.from_buffer(data), ffi.from_buffer(data2),
                      ffi.new("uint8_t[]", max(out_cap, 1))]
        r = self.req
        r.kernel = kernel
        r.flags = flags
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


def _calibrate(run_n, target_s: float) -> int:
    """An iteration count that makes ``run_n(n)`` last about ``target_s``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        run_n(n)
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or n >= 1 << 26:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def loop_seconds(run_n, target_s: float, repeat: int = 5) -> float:
    """Median seconds per iteration of ``run_n(n)`` (which runs n iterations)."""
    n = _calibrate(run_n, target_s)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run_n(n)
        out.append((time.perf_counter() - t0) / n)
    return median(out)


def interleaved_seconds(runners: dict, target_s: float, rounds: int = 5) -> dict:
    """Median seconds per iteration for each ``label -> run_n``, timed in
    ``rounds`` rounds that visit every runner once each: on a shared machine
    a burst of load then hits all the compared implementations alike."""
    counts = {k: _calibrate(fn, target_s) for k, fn in runners.items()}
    samples: dict = {k: [] for k in runners}
    for _ in range(rounds):
        for k, fn in runners.items():
            t0 = time.perf_counter()
            fn(counts[k])
            samples[k].append((time.perf_counter() - t0) / counts[k])
    return {k: median(v) for k, v in samples.items()}


def calls(fn):
    """``fn`` (no arguments) as a run_n for interleaved_seconds."""
    def run_n(n):
        for _ in range(n):
            fn()
    return run_n


def pinned(family: str, variant: str, run_n):
    """``run_n`` that first pins ``family`` to ``variant`` (process-wide)."""
    setter = getattr(kernels_lib(), f"eh_{family}_set_variant")
    name = variant.encode()

    def run(n):
        setter(name)
        run_n(n)
    return run


def call_seconds(fn, target_s: float, repeat: int = 5) -> float:
    """Median seconds per call of a Python callable."""
    def run_n(n):
        for _ in range(n):
            fn()
    return loop_seconds(run_n, target_s, repeat)


def _bench():
    """The bench-only C loops (native_modules/vmm/bench, module ``_bench``)."""
    from edgehost.native_modules import _bench as mod

    return mod


def _as(ctype: str, cdata):
    """``cdata`` (from ``_native``'s ffi) as ``ctype`` of ``_bench``'s ffi: the
    two modules are separate ffi instances, so pointers cross by address."""
    return _bench().ffi.cast(ctype, int(ffi.cast("uintptr_t", cdata)))


def guest_latencies(guest, req, n: int, *, cold: bool = False) -> list[int]:
    """Latencies (ns) of ``n`` calls of ``req`` into ``guest`` (a
    :class:`~edgehost.isolation.guest.Guest`) from a C loop over the monitor's
    ``eh_vm_offload`` (no Python frame inside a measured call); ``cold`` waits
    for the guest to park before each. Inputs inside a window of the guest
    (a SharedBuffer) are read in place, as the monitor decides."""
    from edgehost.native import lib

    b = _bench()
    lat = b.ffi.new("uint64_t[]", n)
    err = b.ffi.new("char[]", 256)
    park = _as("eh_bench_park_fn", ffi.addressof(lib, "eh_vm_wait_parked")) if cold \
        else b.ffi.NULL
    rc = b.lib.eh_bench_calls(_as("eh_bench_run_fn", ffi.addressof(lib, "eh_vm_offload")),
                              park, _as("eh_vm *", guest.handle),
                              _as("eh_offload_req *", req), n, lat, err, 256)
    if rc:
        raise EdgehostError(f"guest call failed ({rc}): {b.ffi.string(err).decode()}")
    return list(lat)


def inproc_latencies(req, n: int) -> list[int]:
    """Latencies (ns) of ``n`` in-process calls of ``req`` from a C loop."""
    b = _bench()
    lat = b.ffi.new("uint64_t[]", n)
    kernel = _as("eh_bench_kernel_fn", ffi.addressof(kernels_lib(), "eh_kernel_run"))
    b.lib.eh_bench_inproc(kernel, _as("eh_offload_req *", req), n, lat)
    return list(lat)


class KvmRunner:
    """Times one request in a fresh KVM guest (host.vmm) by the monitor's C
    call loop: per call = input copy into the guest + doorbell + kernel +
    output copy, with the vCPU spinning between calls (warm path).

    ``variant`` pins the guest's kernels like EDGEHOST_KERNEL_VARIANT.
    Raises IsolationUnavailable where KVM is not usable.
    """

    def __init__(self, variant: str | None = None, mem_mb: int = 256):
        from edgehost import isolation
        from edgehost.isolation import guest as vmm

        ok, reason = isolation.kvm_status()
        if not ok:
            raise IsolationUnavailable("kvm", reason)
        self.guest = vmm.Guest(idle_spin_us=2000, variant=variant, mem_mb=mem_mb)
        self._shared: list = []

    def share(self, data) -> memoryview:
        """``data`` copied into a SharedBuffer of this guest: requests over the
        returned view are read in place (a tenant's path for large inputs)."""
        buf = self.guest.share(len(data))
        buf[:len(data)] = data
        self._shared.append(buf)
        return buf.view

    def close(self) -> None:
        for buf in self._shared:
            buf.close()
        self.guest.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def repeat_seconds(self, req, n: int) -> float:
        """Wall seconds of one guest call that runs ``req`` ``n`` times."""
        res = ffi.new("eh_offload_res *")
        t0 = time.perf_counter()
        self.guest.repeat(req, res, n)
        dt = time.perf_counter() - t0
        if res.status < 0:
            raise EdgehostError(f"kernel {req.kernel} failed in the guest ({res.status})")
        return dt

    def seconds(self, req, target_s: float) -> float:
        """Median seconds per warm guest call of ``req`` over about ``target_s``
        (inputs in a SharedBuffer of this guest are read in place)."""
        first = median(guest_latencies(self.guest, req, 5))
        n = max(5, min(20000, int(target_s * 1e9 / max(first, 1))))
        return median(guest_latencies(self.guest, req, n)) / 1e9


def kernel_vs_inproc(kvm: KvmRunner, req, target_s: float, rounds: int = 7) -> tuple:
    """The kernel's own seconds per run inside the guest and in process, for
    the same request, timed in alternating rounds: in the guest, one call
    that runs it n times minus one call that runs it once (the fastest of
    two), over n - 1 (the input copy and the doorbell cancel); in process, a
    C loop. Medians; the guest figure is None when noise swamped every round
    (a busy machine), never a made-up one. n makes the long call at least
    20x the single one, and at most a quarter of the guest's time limit: the
    guest runs the in-process code, so a run is priced at no less than half
    the in-process one (a noisy 64-run probe once priced a 4 KiB CRC32C at
    ~0 and the long call hit the 1 s limit, losing the rows)."""
    res = ffi.new("eh_offload_res *")

    def in_process(n):
        kernels_lib().eh_kernel_run_many(req, res, n)

    def single():
        return min(kvm.repeat_seconds(req, 1) for _ in range(2))

    local_run = loop_seconds(in_process, target_s / 4, repeat=1)
    one = single()
    per_run = max((kvm.repeat_seconds(req, 64) - one) / 63, local_run / 2, 1e-9)
    most = int(kvm.guest.time_limit_ms / 1000 / 4 / per_run)
    n = max(8, min(1 << 24, most, int(max(target_s, 20 * one) / per_run)))
    guest, local = [], []
    for _ in range(rounds):
        diff = kvm.repeat_seconds(req, n) - single()
        if diff > 0:
            guest.append(diff / (n - 1))
        local.append(loop_seconds(in_process, target_s, repeat=1))
    return (median(guest) if guest else None), median(local)


REPEAT_NOTE = "in-guest repeat: (call running it n times - once) / (n - 1)"


def answer(req: NativeRequest, run) -> tuple:
    """What ``run()`` made of ``req``: status, detail, value and output bytes
    (the correctness check that comes before every timing)."""
    req.res.status, req.res.out_len = 0, 0
    run()
    res = req.res
    n = min(res.out_len, req.req.out_cap)
    out = bytes(ffi.buffer(ffi.cast("uint8_t *", req.req.out), n)) if n else b""
    return res.status, res.detail, res.value, res.out_len, res.err_offset, out


def kvm_variant_rows(family: str, req: NativeRequest, target_s: float, row, call_note: str):
    """Rows for ``req`` in a KVM guest of its own per ``family`` variant (the
    monitor's C call loop; ``call_note`` says what a call includes), then the
    best variant's own speed in the guest next to the same request in process
    (kernel_vs_inproc). ``row(variant, isolation, seconds, **extra)`` builds
    a row."""
    runnable = [v for v, ok in variants(family) if ok]
    for variant in runnable:
        try:
            with KvmRunner(variant=f"{family}={variant}") as kvm:
                with use_variant(family, variant):
                    want = answer(req, req.run)
                got = answer(req, lambda: kvm.guest.offload(req.req, req.res))
                if got != want:
                    yield row(variant, "kvm", None,
                              note="wrong answer in the guest (status/value/output differ "
                                   "from the same variant in process): not timed")
                    continue
                secs = kvm.seconds(req.req, target_s)
                if variant == runnable[-1]:
                    with use_variant(family, variant):
                        guest, local = kernel_vs_inproc(kvm, req.req, target_s)
        except EdgehostError as exc:
            yield row(variant, "kvm", None, note=str(exc))
            return
        yield row(variant, "kvm", secs, note=call_note)
    yield kernel_row(row, runnable[-1], guest, local)


def kernel_row(row, variant, guest, local):
    """The kvm-kernel row for kernel_vs_inproc's result."""
    if guest is None:
        return row(variant, "kvm-kernel", None, note="unstable: noise swamped every round")
    return row(variant, "kvm-kernel", guest, vs_inproc=round(local / guest, 3), note=REPEAT_NOTE)
