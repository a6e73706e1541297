"""``edgehost bench offload``: what a call into a KVM guest costs, in one run.

Rows (``bench`` = "offload"):

* ``latency`` -- CRC32C of 64 bytes, per call, p50/p99 from a C loop (no
  Python inside the measured call): ``kvm-warm`` (the vCPU is spinning on the
  doorbell: no exit), ``kvm-cold`` (the guest has parked: the caller enters
  it on its own thread, after the host reset that parking did),
  ``kvm-cold-wake`` (the same, waking the parked vCPU thread instead: the path
  cold calls avoid), ``inproc`` (the kernel called directly);
* ``cold_*`` -- the cold call's parts, from the monitor's timestamps: the
  caller's own run of the guest (entry + call + exit); where the parked
  vCPU thread was woken instead, the wake syscall, the wake until the thread
  runs, VM entry + the call;
* ``exit_rtt`` -- one bare guest exit and re-entry, same monitor;
* ``vm_create`` / ``reset`` -- boot to post-init snapshot; the host's reset
  after a call that dirtied 64 KiB (test image);
* ``copy_share`` / ``in_place_share`` -- CRC32C of 1 MiB warm in the guest vs
  in process, the input copied in or read in place through the input window
  (as a tenant's large inputs are): the difference is the copy and doorbell;
* ``idle_cpu`` -- CPU the vCPU thread burns once its idle window is over.

STREAM in the guest (2 MiB and 4 KiB pages) vs native vs WASM is ``edgehost
bench stream``.
"""

from __future__ import annotations

import mmap
import os
import statistics
import time

import click

from edgehost.bench._kernelbench import guest_latencies
from edgehost.bench.common import emit, percentile
from edgehost.native import ffi, kernels_lib, lib

CRC32C = 1


class _Req:
    """An ``eh_offload_req`` over Python-owned buffers (kept alive here)."""

    def __init__(self, kernel, data=b"", data2=b"", out_cap=0, args=()):
        self.req = ffi.new("eh_offload_req *")
        self.req.kernel = kernel
        self._in = ffi.from_buffer(data)
        self._in2 = ffi.from_buffer(data2)
        self.out = ffi.new("uint8_t[]", max(out_cap, 8))
        setattr(self.req, "in", int(ffi.cast("uintptr_t", self._in)))
        self.req.in_len = len(data)
        self.req.in2 = int(ffi.cast("uintptr_t", self._in2))
        self.req.in2_len = len(data2)
        self.req.out = int(ffi.cast("uintptr_t", self.out))
        self.req.out_cap = out_cap
        for i, a in enumerate(args):
            self.req.arg[i] = a


def _latency_row(impl, lat, **extra):
    return {"bench": "offload", "impl": impl, "op": "latency",
            "ns_per_call": statistics.median(lat), "p50_ns": percentile(lat, 50),
            "p99_ns": percentile(lat, 99), "calls": len(lat), **extra}


def _cold_breakdown(before: dict, after: dict) -> list[dict]:
    """Where cold calls' time went (means over the calls just run), from the
    monitor's own timestamps: runs on the caller's thread (entry + call +
    exit), and wakes of the parked vCPU thread where that path was taken."""
    def delta(key):
        return after[key] - before[key]

    rows = []
    if (n := delta("caller_runs")) > 0:
        rows.append({"bench": "offload", "impl": "kvm-cold", "op": "cold_run_on_caller",
                     "ns_per_call": delta("caller_run_ns") / n, "calls": n,
                     "note": "the caller enters the guest itself: entry + call + exit"})
    if (n := delta("cold_calls")) > 0:
        for op, key, note in (
                ("cold_wake_syscall", "cold_wake_syscall_ns",
                 "the caller's futex wake syscall (a cross-CPU IPI here)"),
                ("cold_wake", "cold_wake_ns", "caller posts -> parked vCPU thread running"),
                ("cold_enter_and_call", "cold_enter_ns",
                 "vCPU thread running -> result: VM entry + the call")):
            rows.append({"bench": "offload", "impl": "kvm-cold-wake", "op": op,
                         "ns_per_call": delta(key) / n, "calls": n, "note": note})
    return rows


def _inproc_calls(req, n):
    kernels_lib()
    lat = ffi.new("uint64_t[]", n)
    lib.eh_vm_bench_inproc(req, n, lat)
    return list(lat)


def _latency(vmm, n):
    r = _Req(CRC32C, bytes(range(64)))
    rows = []
    with vmm.Guest(idle_spin_us=100) as g:
        guest_latencies(g, r.req, 1000)  # boot + warm-up
        lat = guest_latencies(g, r.req, n)
        st = g.stats()
        rows.append(_latency_row("kvm-warm", lat, warm_share=st["warm_calls"] / st["calls"]))
    with vmm.Guest(idle_spin_us=0) as g:
        guest_latencies(g, r.req, 20, cold=True)
        before = g.stats()
        rows.append(_latency_row("kvm-cold",
                                 guest_latencies(g, r.req, max(n // 20, 200), cold=True)))
        rows += _cold_breakdown(before, g.stats())
        rows.append({"bench": "offload", "impl": "kvm", "op": "exit_rtt",
                     "ns_per_call": statistics.median(g.ping(2000) for _ in range(5)),
                     "note": "bare exit + re-entry (MMIO exit page)"})
        g.wait_parked()
        rows.append({"bench": "offload", "impl": "kvm", "op": "reset_after_call",
                     "ns_per_call": g.stats()["last_reset_ns"],
                     "pages": g.stats()["last_reset_pages"],
                     "note": "host reset after a crc32c(64 B) call"})
    with vmm.Guest(idle_spin_us=0, cold_on_caller=False) as g:  # the path a cold call avoids
        guest_latencies(g, r.req, 20, cold=True)
        before = g.stats()
        rows.append(_latency_row("kvm-cold-wake",
                                 guest_latencies(g, r.req, max(n // 40, 100), cold=True),
                                 note="cold call that wakes the parked vCPU thread instead"))
        rows += _cold_breakdown(before, g.stats())
    rows.append(_latency_row("inproc", _inproc_calls(r.req, n)))
    return rows


def _create_reset(vmm):
    creates = []
    for _ in range(5):
        with vmm.Guest(idle_spin_us=0) as g:
            g.boot()
            creates.append(g.stats()["last_create_ns"])
    rows = [{"bench": "offload", "impl": "kvm", "op": "vm_create",
             "ns_per_call": statistics.median(creates), "note": "boot to post-init snapshot"}]
    resets, pages = [], []
    with vmm.Guest(idle_spin_us=0, image=vmm.TEST_IMAGE) as g:
        req = ffi.new("eh_offload_req *")
        res = ffi.new("eh_offload_res *")
        req.arg[0] = 64 << 10
        for _ in range(20):
            g.call_op(vmm.OP_TEST_DIRTY, req, res)
            g.wait_parked()
            st = g.stats()
            resets.append(st["last_reset_ns"])
            pages.append(st["last_reset_pages"])
    rows.append({"bench": "offload", "impl": "kvm", "op": "reset_64KiB",
                 "ns_per_call": statistics.median(resets), "pages": statistics.median(pages),
                 "note": "dirty-log reset after a call that dirtied 64 KiB (+stack)"})
    return rows


def _copy_share(vmm, n):
    """CRC32C of 1 MiB in process and in a warm guest, its input copied into
    the guest or read in place through the input window (the input lies in a
    page-aligned buffer passed as the caller's linear memory, as a tenant's
    wasm memory is)."""
    mem = mmap.mmap(-1, 1 << 20)
    mem.write(os.urandom(1 << 20))
    r = _Req(CRC32C, memoryview(mem))
    with vmm.Guest(idle_spin_us=200) as g:
        guest_latencies(g, r.req, 20)
        copied = statistics.median(guest_latencies(g, r.req, n))
        guest_latencies(g, r.req, 20, mem=mem)
        in_place = statistics.median(guest_latencies(g, r.req, n, mem=mem))
        mapped = g.stats()["mapped_calls"]
    inproc = statistics.median(_inproc_calls(r.req, n))
    note = "share of the guest call not spent in the kernel"
    return [{"bench": "offload", "impl": "kvm-warm", "op": "crc32c_1MiB", "ns_per_call": copied,
             "note": "input copied into the guest"},
            {"bench": "offload", "impl": "kvm-warm", "op": "crc32c_1MiB_in_place",
             "ns_per_call": in_place, "calls": mapped,
             "note": "input read in place through the read-only input window"},
            {"bench": "offload", "impl": "inproc", "op": "crc32c_1MiB", "ns_per_call": inproc},
            {"bench": "offload", "impl": "kvm-warm", "op": "copy_share_1MiB",
             "share": max(0.0, (copied - inproc) / copied), "note": f"{note} (copy + doorbell)"},
            {"bench": "offload", "impl": "kvm-warm", "op": "in_place_share_1MiB",
             "share": max(0.0, (in_place - inproc) / in_place), "note": f"{note} (doorbell)"}]


def _idle_cpu(vmm):
    r = _Req(CRC32C, bytes(64))
    with vmm.Guest(idle_spin_us=100) as g:
        guest_latencies(g, r.req, 100)
        g.wait_parked()
        c0, t0 = g.stats()["vcpu_cpu_ns"], time.perf_counter_ns()
        time.sleep(0.2)
        c1, t1 = g.stats()["vcpu_cpu_ns"], time.perf_counter_ns()
    return [{"bench": "offload", "impl": "kvm", "op": "idle_cpu",
             "share": (c1 - c0) / (t1 - t0), "note": "vCPU thread CPU share while idle"}]


@click.command("offload")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--calls", default=20000, show_default=True, help="Calls per latency series.")
def command(as_json, calls):
    """Guest call latency (warm/cold/inproc), exit round trip, VM create and
    reset, copy share, idle CPU."""
    from edgehost import isolation
    from edgehost.isolation import guest as vmm

    ok, reason = isolation.kvm_status()
    if not ok:
        emit([{"bench": "offload", "impl": "kvm", "op": "all", "note": f"skipped: {reason}"}],
             as_json)
        return
    rows = []
    rows += _latency(vmm, calls)
    rows += _create_reset(vmm)
    rows += _copy_share(vmm, 200)
    rows += _idle_cpu(vmm)
    emit(rows, as_json, title="edgehost bench offload (ns per call, GB/s)")
