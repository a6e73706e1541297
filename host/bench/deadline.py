"""``edgehost bench deadline``: how closely a call's deadline holds in wall time.

A tenant call that never returns (a loop) runs under ``deadline_ms`` of 10,
100 and 1000 ms, on an idle host and with two neighbour threads keeping
both cores busy with their own tenant calls (what stretched a 1000 ms
deadline to 2.8-3.3 s while deadlines counted ticks). For each it reports the
overshoot the host's check saw (``stopped``: from the deadline to the epoch
callback that stopped the call) and the caller's (``returned``: from the
deadline until ``Tenant.call`` raised), medians and maxima over the runs,
next to the stated tolerance: 10 % of the deadline or 5 ms, whichever is
larger.
"""

from __future__ import annotations

import pathlib
import re
import threading
import time

import click
import wasmtime

from edgehost.bench.common import COUNT, emit, int_list, median
from edgehost.errors import TenantTrap
from edgehost.runtime.tenant import Tenant
from edgehost.wasm_config import manifest as manifest_mod

WAT = """
(module
  (import "edgehost" "time_monotonic_ns" (func $mono (result i64)))
  (memory (export "memory") 1)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  ;; spin for 20 ms of wall time, then return
  (func (export "busy") (param i32 i32) (result i32)
    (local $end i64)
    (local.set $end (i64.add (call $mono) (i64.const 20000000)))
    (loop $l (br_if $l (i64.lt_s (call $mono) (local.get $end))))
    (i32.const 0))
)
"""
_STOPPED = re.compile(r"stopped ([0-9.]+) ms after it")


def tolerance_ms(deadline_ms: float) -> float:
    """The stated tolerance: 10 % of the deadline or 5 ms, whichever is larger."""
    return max(0.1 * deadline_ms, 5.0)


def _tenant(name: str, deadline_ms: int) -> Tenant:
    man = manifest_mod.from_dict({"name": name, "isolation": "inproc",
                                  "limits": {"deadline_ms": deadline_ms}},
                                 pathlib.Path("/bench/edgehost.toml"))
    return Tenant(man, wasm=bytes(wasmtime.wat2wasm(WAT)))


class _Neighbours:
    """``n`` threads calling a busy tenant back to back (calls release the GIL)."""

    def __init__(self, n: int):
        self.tenant = _tenant("bench-neighbour", 10_000)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self):
        while not self.stop.is_set():
            self.tenant.call("busy")

    def __enter__(self):
        for th in self.threads:
            th.start()
        time.sleep(0.1)  # let them take the cores
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join()
        self.tenant.close()


def _overshoots(deadline_ms: int, runs: int) -> tuple[list[float], list[float]]:
    stopped, returned = [], []
    with _tenant("bench-deadline", deadline_ms) as t:
        for _ in range(runs):
            t0 = time.monotonic()
            try:
                t.call("spin")
                raise click.ClickException("the spinning call returned")
            except TenantTrap as trap:
                elapsed_ms = (time.monotonic() - t0) * 1e3
                m = _STOPPED.search(str(trap))
                if trap.kind != "deadline" or not m:
                    raise
            stopped.append(float(m.group(1)))
            returned.append(elapsed_ms - deadline_ms)
    return stopped, returned


def rows(deadlines: list[int], runs: int, neighbours: int) -> list[dict]:
    out = []
    for load, n in (("idle", 0), (f"{neighbours} busy neighbour threads", neighbours)):
        with _Neighbours(n):
            for d in deadlines:
                stopped, returned = _overshoots(d, runs if d < 1000 else max(1, runs // 2))
                tol = tolerance_ms(d)
                out.append({
                    "bench": "deadline", "impl": "edgehost", "load": load, "deadline_ms": d,
                    "tolerance_ms": tol,
                    "stopped_median_ms": median(stopped), "stopped_max_ms": max(stopped),
                    "returned_median_ms": median(returned), "returned_max_ms": max(returned),
                    "within": f"{sum(r <= tol for r in returned)}/{len(returned)}",
                })
    return out


@click.command("deadline")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--deadlines", default="10,100,1000", show_default=True,
              help="Comma-separated deadline_ms values.")
@click.option("--runs", default=6, show_default=True, type=COUNT,
              help="Calls per deadline (half as many for 1000 ms and above).")
@click.option("--neighbours", default=2, show_default=True, type=click.IntRange(0),
              help="Busy neighbour threads in the loaded runs.")
def command(as_json, deadlines, runs, neighbours):
    """Deadline overshoot in wall time, idle and with the cores kept busy."""
    ds = int_list(deadlines.replace(" ", ""), "--deadlines")
    if not ds or min(ds) < 1:
        raise click.BadParameter("deadlines are positive milliseconds", param_hint="--deadlines")
    emit(rows(ds, runs, neighbours), as_json,
         title="deadline: overshoot past deadline_ms (ms; tolerance max(10 %, 5 ms))")
