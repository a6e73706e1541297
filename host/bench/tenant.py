"""``edgehost bench tenant``: the decision a tenant author faces -- do the work
in my own WASM code, or offload it to the host's kernel?

The same tenant operation, at sizes from 64 B to 16 MiB, four ways, all
through the real host API path (a handler of a C tenant built with the SDK,
called with ``Tenant.call``):

* ``wasm scalar`` / ``wasm simd128`` -- the kernel sources compiled INTO the
  tenant (plain wasm32, and with -msimd128) and called directly: no host call;
* ``offload inproc`` / ``offload kvm`` -- the same request through the
  ``edgehost.offload`` import, run by the host in process or in the tenant's
  KVM guest (a call whose inputs total 64 KiB or more reads them in place
  through the input window, from the instance's second such call on).

Operations: CRC32C of the body, CSV to rows (unescaped fields), JSON validate
and extract one value (``/meta/count``), float32 dot product, top-10 rows by
dot product. The tenant is native_modules/kernels/wasm/bench_tenant.c.

Method: the handler runs the operation ``n`` times and times the runs itself
with the host's monotonic clock (no Python, no request overhead in the
figure); ``n`` makes one request last about ``--target-ms``. Before timing,
each way's answer is checked against an independent reference (a wrong one
is reported, never timed); the four ways are then timed in interleaved rounds
(a burst of load on a shared machine hits all alike), each timed request
right after an untimed one, so a guest parked while the other ways ran is
awake (the steady state of a tenant that offloads on every request): median,
min and max. Own code and in-process kernels run pinned to one core.
``request_ns`` is one whole request with n = 1 as Python's ``Tenant.call``
sees it (body copy into the tenant included), median of a few.

The ``crossover`` rows say, per operation and offload path, from which size
offloading beats the faster of the tenant's own builds at every size measured
from there on (the size where the two curves cross, interpolated in log-log
between the two measured sizes around it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import pathlib
import random
import statistics
import struct
import time

import click

from edgehost import paths
from edgehost.bench.common import COUNT, POSITIVE_MS, emit, input_path, int_list
from edgehost.bench.machine import pinned_thread
from edgehost.bench.report import family_table
from edgehost.bench.tenant_inputs import CASES, Case
from edgehost.errors import EdgehostError

SIZES = tuple(64 << (2 * i) for i in range(10))     # 64 B .. 16 MiB, x4
QUICK_SIZES = (64, 4096, 256 << 10)
CALIBRATE_RUNS = 4  # runs in the request that sizes n (after an untimed warm-up request)
OPS = ("crc", "csv", "json", "dot", "topk")
OP_LABELS = {"crc": "CRC32C of the body", "csv": "CSV to rows (unescaped fields)",
             "json": "JSON validate + extract /meta/count", "dot": "dot product (float32)",
             "topk": "top-10 rows by dot product (float32)"}
KERNELS = ["crc32c", "csv-fields", "json-pointer", "vec-dot", "vec-topk"]
REPLY = struct.Struct("<qIiiIQQ")  # bench_tenant.c: elapsed, runs, rc, status, detail, value, len

# (label, wasm build, export suffix, isolation)
PATHS = (("wasm scalar", "scalar", "local", "inproc"),
         ("wasm simd128", "simd128", "local", "inproc"),
         ("offload inproc", "scalar", "offload", "inproc"),
         ("offload kvm", "scalar", "offload", "kvm"))
LOCAL = ("wasm scalar", "wasm simd128")
OFFLOAD = ("offload inproc", "offload kvm")


# -- the tenant ------------------------------------------------------------------------
def _wasm_dir() -> pathlib.Path:
    from edgehost import native_modules
    return pathlib.Path(native_modules.__file__).resolve().parent / "kernels" / "wasm"


def build(flavor: str) -> pathlib.Path:
    """The bench tenant for ``flavor`` (``scalar`` or ``simd128``), compiled
    with the C tenant toolchain (wasm32-wasi reactor, the SDK) together with
    every kernel family's sources; cached by a hash of its inputs."""
    from edgehost.bench import wasmkernels
    from edgehost.toolchain import compilers

    tc = compilers.require("c")
    root = wasmkernels.ROOT
    srcs = [_wasm_dir() / "bench_tenant.c", _wasm_dir() / "bench_local.c"]
    srcs += [s for s in wasmkernels.sources() if s.name != "harness.c"]
    extra = ["-O3", *wasmkernels.FLAVORS[flavor]]
    incs = [paths.sdk_dir() / "c", root, root / "include"]
    h = hashlib.sha256(repr((tc.detail, compilers.C_FLAGS, extra)).encode())
    headers = sorted(root.glob("include/*.h")) + sorted((root / "kernels").rglob("*.h"))
    for p in srcs + headers + sorted((paths.sdk_dir() / "c").glob("*.h")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    out = paths.cache_dir() / "bench-tenant" / f"bench-tenant-{flavor}-{h.hexdigest()[:16]}.wasm"
    if out.exists():
        return out
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    compilers.compile_c(srcs, tmp, incs, extra=extra)
    tmp.replace(out)  # atomic: a concurrent run never sees half a module
    return out


def make_tenant(flavor: str, isolation: str):
    """A Tenant of the bench tenant's ``flavor`` build under ``isolation``."""
    from edgehost.runtime.tenant import Tenant
    from edgehost.wasm_config import manifest as manifest_mod

    man = manifest_mod.from_dict(
        {"name": f"bench-tenant-{flavor}-{isolation}", "isolation": isolation,
         "kernels": KERNELS, "limits": {"memory_mb": 2048, "deadline_ms": 60_000}},
        pathlib.Path("/bench-tenant/edgehost.toml"))
    return Tenant(man, wasm=build(flavor).read_bytes())


@dataclasses.dataclass
class Reply:
    elapsed_ns: int
    runs: int
    rc: int
    status: int
    detail: int
    value: int
    out_len: int
    out: bytes

    @classmethod
    def parse(cls, body: bytes) -> Reply:
        return cls(*REPLY.unpack_from(body), body[REPLY.size:])


def call(tenant, export: str, body: bytes, query: str) -> Reply:
    return Reply.parse(tenant.call(export, body, query=query).body)


# -- measuring ---------------------------------------------------------------------------
def _row(way, op, case, **extra):
    label, flavor, _, isolation = way
    row = {"bench": "tenant", "impl": label, "op": op, "target": case.target,
           "size": len(case.body),
           "build": f"wasm/{flavor}" if label in LOCAL else "host kernel",
           "isolation": isolation if label in OFFLOAD else "own code"}
    row.update(extra)
    return row


def _query(case, n):
    return f"n={n}&{case.query}" if case.query else f"n={n}"


def _first(tenant, export, case):
    """A warm-up request (grows the output room, wakes the guest), then one
    checked request: (None, ns per run) when the answer is right, else
    (the reason, None)."""
    call(tenant, export, case.body, _query(case, 1))
    r = call(tenant, export, case.body, _query(case, CALIBRATE_RUNS))
    if r.rc != 0:
        return f"the offload import returned {r.rc}", None
    if r.status != 0:
        return f"kernel status {r.status} (detail {r.detail})", None
    wrong = case.check(r)
    if wrong:
        return f"wrong answer: {wrong}", None
    return None, max(r.elapsed_ns / max(r.runs, 1), 1.0)


def _runs_for(target_s: float, ns_per_run: float) -> int:
    return max(1, min(1_000_000, int(target_s * 1e9 / ns_per_run)))


def measure_case(tenants: dict, case: Case, target_s: float, rounds: int,
                 req_repeat: int) -> list[dict]:
    """Rows for one case: every available path checked, then timed in
    interleaved rounds; ``tenants``: path label -> Tenant or a reason string."""
    rows, live = [], {}
    for path in PATHS:
        label, _, suffix, _ = path
        t = tenants.get(label)
        if isinstance(t, str):
            rows.append(_row(path, case.op, case, ns_per_op=None, note=t))
            continue
        export = f"{case.op}_{suffix}"
        try:
            with _maybe_pinned(label):
                wrong, one = _first(t, export, case)
        except EdgehostError as exc:
            wrong, one = f"failed: {exc}", None
        if wrong:
            rows.append(_row(path, case.op, case, ns_per_op=None, note=wrong))
            continue
        n = _runs_for(target_s, one)
        # again, now that the path is settled: the first requests of a KVM
        # path also map its window and fault its pages in (ms at 1 MiB),
        # which sized n for a request far shorter than the target
        with _maybe_pinned(label):
            r = call(t, export, case.body, _query(case, n))
        n = _runs_for(target_s, max(r.elapsed_ns / max(r.runs, 1), 1.0))
        live[label] = (path, t, export, n)
    samples: dict[str, list[float]] = {k: [] for k in live}
    paths: dict[str, str] = {}
    for _ in range(rounds):
        for label, (_, t, export, n) in live.items():
            with _maybe_pinned(label):
                # untimed: wakes what the path uses (a guest parks after its
                # idle window, and the other paths ran in between)
                call(t, export, case.body, _query(case, 1))
                before = t.guest.stats() if t.guest else None
                r = call(t, export, case.body, _query(case, n))
                if before is not None:  # the timed calls' inputs: in place or copied
                    paths[label] = input_path(before, t.guest.stats())
            samples[label].append(r.elapsed_ns / max(r.runs, 1))
    for label, (path, t, export, n) in live.items():
        req = []
        q1 = _query(case, 1)
        for _ in range(req_repeat):
            with _maybe_pinned(label):
                t0 = time.perf_counter_ns()
                t.call(export, case.body, query=q1)
                req.append(time.perf_counter_ns() - t0)
        med = statistics.median(samples[label])
        rows.append(_row(path, case.op, case, ns_per_op=med, min_ns=min(samples[label]),
                         max_ns=max(samples[label]), gbps=len(case.body) / med,
                         request_ns=statistics.median(req), runs_per_request=n,
                         **({"path": paths[label]} if label in paths else {})))
    order = [p[0] for p in PATHS]
    return sorted(rows, key=lambda r: order.index(r["impl"]))


def _maybe_pinned(label):
    """Own code and in-process kernels run pinned to one core; the KVM path
    is not pinned (its vCPU thread must be free to run on another core)."""
    return pinned_thread(enabled=label != "offload kvm")


def crossovers(rows: list[dict]) -> list[dict]:
    """Per op and offload path: the smallest measured size from which the
    offload beats the faster own-code build at every larger measured size,
    and the crossing interpolated in log-log between the sizes around it."""
    out = []
    for op in OPS:
        at = [r for r in rows if r.get("op") == op and r.get("ns_per_op")]
        local: dict[int, float] = {}
        for r in at:
            if r["impl"] in LOCAL:
                local[r["size"]] = min(local.get(r["size"], math.inf), r["ns_per_op"])
        for path in OFFLOAD:
            off = {r["size"]: r["ns_per_op"] for r in at if r["impl"] == path}
            sizes = sorted(set(off) & set(local))
            if not sizes:
                continue
            ratio = {s: local[s] / off[s] for s in sizes}  # > 1: offloading is faster
            first = None
            for s in reversed(sizes):
                if ratio[s] > 1:
                    first = s
                else:
                    break
            row = {"bench": "tenant", "impl": "crossover", "op": op, "vs": path,
                   "from_size": first, "sizes": f"{sizes[0]}..{sizes[-1]}",
                   "speedup_at_max": round(ratio[sizes[-1]], 2)}
            if first is None:
                row["crossover_bytes"] = None
                row["note"] = f"own code faster up to {sizes[-1]} B"
            elif first == sizes[0]:
                row["crossover_bytes"] = first
                row["note"] = f"offloading pays from the smallest size measured ({first} B)"
            else:
                lo = sizes[sizes.index(first) - 1]
                a, b = math.log(ratio[lo]), math.log(ratio[first])
                frac = a / (a - b) if a != b else 1.0
                cross = math.exp(math.log(lo) + frac * (math.log(first) - math.log(lo)))
                row["crossover_bytes"] = int(round(cross))
                row["note"] = f"offloading pays from about {human_bytes(cross)} " \
                              f"(measured: slower at {human_bytes(lo)}, faster at " \
                              f"{human_bytes(first)})"
            out.append(row)
    return out


def path_lines(rows: list[dict]) -> str:
    """Per op, what the monitor did with the KVM path's inputs at each size
    (read in place through the window, or copied)."""
    out = ["offload kvm, the timed calls' inputs:"]
    for op in OPS:
        at = [r for r in rows if r.get("op") == op and r.get("impl") == "offload kvm"
              and r.get("path")]
        if at:
            out.append(f"  {op:5s} " + ", ".join(f"{human_bytes(r['size'])} {r['path']}"
                                                 for r in sorted(at, key=lambda r: r["size"])))
    return "\n".join(out) if len(out) > 1 else ""


def human_bytes(n: float) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v >= 10 or v == int(v) else f"{v:.1f} {unit}"
    return f"{n:.0f} B"


def tenants_for(isolations: tuple[str, ...]) -> dict:
    """Path label -> Tenant, or a string saying why that path is not run."""
    from edgehost import isolation

    out: dict = {}
    built: dict = {}
    for label, flavor, _, iso in PATHS:
        if iso not in isolations:
            out[label] = "skipped (--no-kvm)" if iso == "kvm" else "skipped"
            continue
        if iso == "kvm":
            ok, reason = isolation.kvm_status()
            if not ok:
                out[label] = f"KVM unavailable: {reason}"
                continue
        key = (flavor, iso)
        try:
            if key not in built:
                built[key] = make_tenant(flavor, iso)
            out[label] = built[key]
        except EdgehostError as exc:
            out[label] = f"not built: {str(exc).splitlines()[0]}"
    return out


@click.command("tenant")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--sizes", default=",".join(map(str, SIZES)), show_default=True,
              help="Comma-separated body sizes in bytes.")
@click.option("--ops", default=",".join(OPS), show_default=True,
              help="Comma-separated operations.")
@click.option("--target-ms", default=10.0, show_default=True, type=POSITIVE_MS,
              help="Length of one timed request (the handler repeats the operation).")
@click.option("--rounds", default=5, show_default=True, type=COUNT,
              help="Interleaved timed rounds (median).")
@click.option("--no-kvm", is_flag=True, help="Leave out the KVM offload path.")
@click.option("--quick", is_flag=True, help=f"Sizes {','.join(map(str, QUICK_SIZES))}, "
              "3 rounds of 3 ms.")
def command(as_json, sizes, ops, target_ms, rounds, no_kvm, quick):
    """The tenant's own WASM code vs offloading to the kernel, 64 B to 16 MiB."""
    from edgehost.isolation import guest as guests

    if quick:
        sizes, target_ms, rounds = ",".join(map(str, QUICK_SIZES)), 3.0, 3
    size_list = int_list(sizes, "--sizes")
    op_list = [o for o in ops.split(",") if o]
    for o in op_list:
        if o not in OPS:
            raise click.BadParameter(f"unknown operation {o!r} (choose from {', '.join(OPS)})",
                                     param_hint="--ops")
    if any(s < 16 for s in size_list):
        raise click.BadParameter("sizes start at 16 bytes", param_hint="--sizes")
    tenants = tenants_for(("inproc",) if no_kvm else ("inproc", "kvm"))
    rng = random.Random(15)
    rows = []
    try:
        for op in op_list:
            for size in size_list:
                case = CASES[op](size, rng)
                case.target = size
                rows += measure_case(tenants, case, target_ms / 1000, rounds,
                                     3 if size <= 1 << 20 else 1)
    finally:
        for t in tenants.values():
            if not isinstance(t, str):
                t.close()  # and its own guest
        guests.close_default()
    rows += crossovers(rows)
    if as_json:
        emit(rows, True)
    else:
        click.echo("tenant: own WASM code vs offload (medians)")
        click.echo(family_table("tenant", rows))
        click.echo(path_lines(rows))
