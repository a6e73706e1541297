"""The issues' numeric targets read against a ``bench all`` run.

Each target names what the issue asked for, and :func:`evaluate` computes
from one run's rows what this machine measured and whether it met it
(``met``: True, False, or None when the run has no rows for it or the rows
are too noisy to judge). :func:`table` lays several machine kinds side by
side for the README (between ``<!-- bench:targets:begin -->`` and ``end``,
rewritten by ``edgehost bench all --docs``). Nothing here is typed in:
every figure and verdict comes from the JSON.

Rules where a target covers several rows: every row must meet it, except
a kernel's speed inside the guest, judged by each family's median (its
single rows swing both ways by tens of percent on a shared machine). A
STREAM guest above native by more than 15 % is noise, not judged; so is a
p99 "at 80 %" measured outside 70-90 % of the peak.
"""

from __future__ import annotations

import statistics

from edgehost.bench.common import family_rows as _rows
from edgehost.bench.common import value_range as _rng

US = 1e3            # ns per µs
NO_TARGET = "-"     # a figure shown for scale: no issue sets a number for it


def _find(res: dict, family: str, **match) -> dict | None:
    """The first row of ``family`` whose fields equal ``match``."""
    return next((r for r in _rows(res, family)
                 if all(r.get(k) == v for k, v in match.items())), None)


def _t(tid: str, what: str, target: str, measured: str, met: bool | None) -> dict:
    return {"id": tid, "what": what, "target": target, "measured": measured, "met": met}


def _absent(tid: str, what: str, target: str, family: str) -> dict:
    return _t(tid, what, target, f"not in this run ({family})", None)


def _all(flags) -> bool | None:
    flags = [f for f in flags if f is not None]
    return all(flags) if flags else None


# -- figures without a target, for scale ---------------------------------------------------------
def hostcall(res):
    what = "WASM -> host call (close to a C call): nop / kv_get 16 B, default store"
    rows = {(r.get("impl"), r.get("op")): r["ns_per_call"] for r in _rows(res, "hostcall")
            if r.get("ns_per_call")}
    ours = [rows.get(("edgehost (C API)", op)) for op in ("wasm->host nop",
                                                         "wasm->host kv_get 16B")]
    peer = [rows.get(("wasmtime-py", op)) for op in ("wasm->host nop", "wasm->host kv_get 16B")]
    if None in ours:
        return _absent("hostcall", what, NO_TARGET, "hostcall")
    measured = f"{ours[0]:.1f} ns / {ours[1]:.0f} ns"
    if None not in peer:
        measured += f" (wasmtime-py: {peer[0] / US:.1f} µs / {peer[1] / US:.1f} µs)"
    return _t("hostcall", what, NO_TARGET, measured, None)


def crc_best(res):
    what = "CRC32C best variant in process, 64 KiB / 1 MiB"
    rows = [r for r in _rows(res, "crc32c") if r.get("impl") == "edgehost"
            and r.get("isolation") == "inproc" and r.get("gbps")]
    cells = []
    for size in (65536, 1 << 20):
        at = [r for r in rows if r["size"] == size]
        if at:
            best = max(at, key=lambda r: r["gbps"])
            cells.append(f"{best['variant']} {best['gbps']:.1f} GB/s")
    if not cells:
        return _absent("crc_best", what, NO_TARGET, "crc32c")
    return _t("crc_best", what, NO_TARGET, " / ".join(cells), None)


def serve_cpu(res):
    what = "server CPU per request, 1 worker: nginx static / edgehost 404 / hello-c"
    rows = {r["impl"]: r.get("cpu_us") for r in _rows(res, "serve") if r.get("workers") == 1}
    got = [rows.get(k) for k in ("nginx-static", "edgehost-404", "hello-c")]
    if None in got:
        return _absent("serve_cpu", what, NO_TARGET, "serve")
    return _t("serve_cpu", what, NO_TARGET, " / ".join(f"{v:.1f}" for v in got) + " µs", None)


# -- the guest call ---------------------------------------------------------------------------
def warm_call(res):
    what = "warm offload call, 64 B, exit-less: p50 / p99; vs the doorbell floor"
    target = "p50 ≤ 1 µs and ≤ 2.5x floor, p99 ≤ 5 µs"
    r = _find(res, "offload", op="warm_vs_doorbell")
    floor = _find(res, "offload", impl="kvm-doorbell")
    if r is None or floor is None:
        return _absent("warm_call", what, target, "offload")
    ok = r["p50_ns"] <= 1000 and r["ratio"] <= 2.5 and r["p99_ns"] <= 5000
    return _t("warm_call", what, target,
              f"{r['p50_ns'] / US:.2f} µs / {r['p99_ns'] / US:.2f} µs; {r['ratio']:.2f}x "
              f"(floor {floor['p50_ns'] / US:.2f} µs)", ok)


def cold_call(res):
    what = "cold offload call vs one guest exit + re-entry"
    target = "≤ 1.3x"
    cold = _find(res, "offload", impl="kvm-cold", op="latency")
    rtt = _find(res, "offload", op="exit_rtt")
    if cold is None or rtt is None:
        return _absent("cold_call", what, target, "offload")
    ratio = cold["p50_ns"] / rtt["ns_per_call"]
    return _t("cold_call", what, target, f"{cold['p50_ns'] / US:.1f} µs vs "
              f"{rtt['ns_per_call'] / US:.1f} µs: {ratio:.2f}x", ratio <= 1.3)


def reset(res):
    what = "reset after 64 KiB dirtied; idle guest CPU"
    target = "≤ 50 µs; ≈ 0"
    r = _find(res, "offload", op="reset_64KiB")
    idle = _find(res, "offload", op="idle_cpu")
    if r is None or idle is None:
        return _absent("reset", what, target, "offload")
    return _t("reset", what, target, f"{r['ns_per_call'] / US:.0f} µs; {idle['share']:.0%}",
              r["ns_per_call"] <= 50 * US and idle["share"] < 0.01)


def stream(res):
    what = "STREAM in the guest vs native, largest arrays (2 MiB / 4 KiB guest pages)"
    target = "≥ 0.95"
    rows = [r for r in _rows(res, "stream") if r.get("vs_native") is not None]
    if not rows:
        return _absent("stream", what, target, "stream")
    big = max(r["size"] for r in rows)
    by = {k: [r["vs_native"] for r in rows if r["size"] == big and r["impl"] == k]
          for k in ("kvm 2M pages", "kvm 4K pages")}
    guest = by["kvm 2M pages"] + by["kvm 4K pages"]
    if not guest:
        return _absent("stream", what, target, "stream: no guest rows")
    measured = f"{_rng(by['kvm 2M pages'])} / {_rng(by['kvm 4K pages'])}"
    if max(guest) > 1.15:
        return _t("stream", what, target, measured + " (noisy: the guest above native)", None)
    return _t("stream", what, target, measured, min(guest) >= 0.95)


def guest_kernel(res):
    what = "a kernel inside the guest vs in process (in-guest repeat): CRC32C / JSON / CSV / " \
           "vector"
    target = "≥ 0.95x"
    fams = {"crc32c": [r.get("ratio") for r in _rows(res, "crc32c")
                       if r.get("impl") == "ratio kvm-kernel/inproc"]}
    for fam in ("json", "csv", "vector"):
        fams[fam] = [r.get("vs_inproc") for r in _rows(res, fam)
                     if r.get("isolation") == "kvm-kernel"]
    fams = {k: [v for v in vals if v is not None] for k, vals in fams.items()}
    if not any(fams.values()):
        return _absent("guest_kernel", what, target, "crc32c, json, csv, vector")
    meds = [statistics.median(v) for v in fams.values() if v]
    measured = " / ".join(_rng(v) for v in fams.values()) + " (medians " + \
        " / ".join(f"{m:.2f}" for m in meds) + ")"
    return _t("guest_kernel", what, target, measured, _all(m >= 0.95 for m in meds))


TENANT_OPS = (("crc32c", "CRC32C"), ("csv_index", "CSV"), ("json_validate", "JSON"),
              ("vec_dot", "dot"), ("vec_topk", "top-k"))


def _tenant(res, tid: str, impl: str, what: str):
    target = "≥ 0.9x"
    rows = {r["op"]: r for r in _rows(res, "offload") if r.get("impl") == impl}
    cells, flags = [], []
    for op, label in TENANT_OPS:
        got = [rows.get(f"tenant_{op}_{size}", {}).get("vs_inproc") for size in ("64KiB", "1MiB")]
        if all(g is None for g in got):
            continue
        cells.append(label + " " + " / ".join("-" if g is None else f"{g:.2f}" for g in got))
        flags += [g >= 0.9 for g in got if g is not None]
    if not cells:
        return _absent(tid, what, target, "offload")
    return _t(tid, what, target, ", ".join(cells), _all(flags))


def tenant_kvm(res):
    return _tenant(res, "tenant_kvm", "kvm-tenant", "a tenant's kernel call through KVM vs in "
                   "process, 64 KiB / 1 MiB, reused instance")


def tenant_fresh(res):
    return _tenant(res, "tenant_fresh", "kvm-tenant-fresh", "the same with "
                   "`instance = \"fresh\"`")


# -- kernels against their peers ---------------------------------------------------------------
def crc_vs_pypi(res):
    what = "CRC32C best variant vs best PyPI package, 64 KiB / 1 MiB"
    target = "≥ 2x"
    by = {r["size"]: r["ratio"] for r in _rows(res, "crc32c") if r.get("impl") == "ratio vs PyPI"}
    got = [by.get(65536), by.get(1 << 20)]
    if all(g is None for g in got):
        return _absent("crc_vs_pypi", what, target, "crc32c")
    return _t("crc_vs_pypi", what, target,
              " / ".join("-" if g is None else f"{g:.2f}x" for g in got),
              _all(g >= 2 for g in got if g is not None))


def python_api(res):
    what = "Python API on 64 B vs the `crc32c` package"
    target = "≤ 2x"
    r = _find(res, "crc32c", impl="ratio python API 64 B / crc32c package")
    if r is None:
        return _absent("python_api", what, target, "crc32c")
    return _t("python_api", what, target, f"{r['ratio']:.2f}x", r["ratio"] <= 2)


def json_simdjson(res):
    what = "JSON validate vs simdjson, per document"
    target = "≥ 0.9x"
    rows = [r for r in _rows(res, "json") if r.get("impl") == "ratio validate/simdjson"]
    if not rows:
        return _absent("json_simdjson", what, target, "json")
    return _t("json_simdjson", what, target,
              ", ".join(f"{r.get('input', '?')} {r['ratio']:.2f}x" for r in rows),
              _all(r["ratio"] >= 0.9 for r in rows))


def csv_index(res):
    what = "CSV indexing (mixed quoting), best variant; vs pyarrow"
    target = "≥ 2 GB/s, ≥ 5x"
    rows = _rows(res, "csv")
    best = max((r["gbps"] for r in rows if r.get("impl") == "edgehost index"
                and r.get("isolation") == "inproc" and r.get("gbps")), default=None)
    ratio = next((r["ratio"] for r in rows if r.get("impl") == "ratio index/pyarrow"), None)
    if best is None or ratio is None:
        return _absent("csv_index", what, target, "csv")
    return _t("csv_index", what, target, f"{best:.2f} GB/s, {ratio:.1f}x",
              best >= 2 and ratio >= 5)


def vector_numpy(res):
    what = "dot, axpy, sum over 1M float32: best variant vs numpy"
    target = "≥ 0.9x"
    rows = [r for r in _rows(res, "vector") if r.get("size") == 1 << 20 and r.get("gbps")
            and r.get("isolation") == "inproc"]
    out = []
    for op in ("dot", "axpy", "sum"):
        ours = max((r["gbps"] for r in rows if r["input"] == op and r["impl"] == "edgehost"),
                   default=None)
        peer = next((r["gbps"] for r in rows if r["input"] == op and r["impl"] == "numpy"), None)
        if ours is not None and peer:
            out.append((op, ours / peer))
    if not out:
        return _absent("vector_numpy", what, target, "vector")
    return _t("vector_numpy", what, target, ", ".join(f"{op} {x:.2f}x" for op, x in out),
              _all(x >= 0.9 for _, x in out))


# -- serving -------------------------------------------------------------------------------------
def _serve(res, impl: str) -> dict[int, dict]:
    return {r["workers"]: r for r in _rows(res, "serve") if r.get("impl") == impl}


def serve_hello(res):
    what = "HTTP: hello-c vs nginx static 200, 1 / 2 workers (requests/s)"
    target = "≥ 0.5x"
    rows = _serve(res, "hello-c")
    if not rows:
        return _absent("serve_hello", what, target, "serve")
    nginx = _serve(res, "nginx-static")
    return _t("serve_hello", what, target, " / ".join(
        f"{r['vs_nginx']:.2f}x" + (f" ({r['rps'] / 1e3:.1f}k vs {nginx[w]['rps'] / 1e3:.1f}k)"
                                   if w in nginx else "") for w, r in sorted(rows.items())),
        _all(r["vs_nginx"] >= 0.5 for r in rows.values()))


def serve_p99(res):
    what = "hello-c p99 at ~80 % of its peak, 1 / 2 workers"
    target = "≤ 5 ms"
    at80, peak = _serve(res, "hello-c@80%"), _serve(res, "hello-c")
    if not at80:
        return _absent("serve_p99", what, target, "serve")
    cells, flags = [], []
    for w, r in sorted(at80.items()):
        share = r["rps"] / peak[w]["rps"] if w in peak else None
        near = share is not None and abs(share - 0.8) <= 0.1
        cells.append(f"{r['p99_ms']:.1f} ms" + (f" at {share:.0%}" if share else "")
                     + ("" if near else " (not ~80 %)"))
        flags.append(r["p99_ms"] <= 5 if near else None)
    # a row measured far from 80 % neither meets nor misses the target
    met = False if False in flags else (None if None in flags else True)
    return _t("serve_p99", what, target, " / ".join(cells), met)


def serve_etag(res):
    what = "etag-c, 64 KiB body, CRC32C in the KVM guest vs in process, 1 / 2 workers"
    target = "≥ 0.8x"
    rows = {w: r for w, r in _serve(res, "etag-kvm").items() if r.get("kvm_vs_inproc")}
    if not rows:
        return _absent("serve_etag", what, target, "serve")
    return _t("serve_etag", what, target,
              " / ".join(f"{r['kvm_vs_inproc']:.2f}x" for _, r in sorted(rows.items())),
              _all(r["kvm_vs_inproc"] >= 0.8 for r in rows.values()))


def abuse(res):
    what = "hello-c under each abuse (loop, memory bomb, trap storm, oversized bodies, slow " \
           "clients, kernel past its guest limit)"
    target = "0 failed, p99 ≤ 2x quiet"
    rows = _rows(res, "serve-abuse")
    quiet = _find(res, "serve-abuse", impl="quiet")
    hit = [r for r in rows if r.get("impl") != "quiet" and r.get("p99_vs_quiet") is not None]
    if quiet is None or not hit:
        return _absent("abuse", what, target, "serve-abuse")
    failed = sum(r.get("errors", 0) for r in rows)
    ratios = [r["p99_vs_quiet"] for r in hit]
    return _t("abuse", what, target, f"{failed} failed; p99 {_rng(ratios)}x quiet (quiet p99 "
              f"{quiet['p99_ms']:.2f} ms at {quiet['rps'] / 1e3:.1f}k requests/s)",
              failed == 0 and max(ratios) <= 2)


def deadline(res):
    what = "deadlines: a call stops after `deadline_ms` (10 / 100 / 1000), idle and beside " \
           "busy threads"
    target = "within 10 % or 5 ms"
    rows = _rows(res, "deadline")
    if not rows:
        return _absent("deadline", what, target, "deadline")
    n_in = n = 0
    for r in rows:
        a, b = (int(x) for x in str(r.get("within", "0/0")).split("/"))
        n_in, n = n_in + a, n + b
    worst = {}
    for r in rows:
        worst.setdefault(r.get("load", "?"), []).append(r.get("stopped_max_ms"))
    parts = [f"{load}: worst {' / '.join(f'{v:.1f}' for v in vals)} ms"
             for load, vals in worst.items()]
    return _t("deadline", what, target, f"{'; '.join(parts)}: {n_in} of {n} within",
              n_in == n and n > 0)


# -- state and reload ----------------------------------------------------------------------------
def kv(res):
    what = "kv from WASM, embedded LMDB: kv_get 16 B / kv_put 16 B (default durability)"
    target = "≤ 100 ns / ≤ 5 µs"
    rows = {r["op"]: r for r in _rows(res, "kv")
            if r.get("impl") == "edgehost lmdb (default durability)"}
    get, put = rows.get("kv_get 16B"), rows.get("kv_put 16B")
    if get is None or put is None:
        return _absent("kv", what, target, "kv")
    return _t("kv", what, target, f"{get['ns_per_call']:.0f} ns / "
              f"{put['ns_per_call'] / US:.2f} µs",
              get["ns_per_call"] <= 100 and put["ns_per_call"] <= 5 * US)


def _reload(res, impl: str) -> dict[str, dict]:
    return {r["case"]: r for r in _rows(res, "reload") if r.get("impl") == impl}


def reload_latency(res):
    what = "a changed module answers after its file is in place: compiled / from the " \
           "compiled cache / `[config]` only (in process; under `isolation = \"kvm\"`); " \
           "failed requests"
    target = "≤ 100 / 20 / 5 ms; 0"
    rows = _reload(res, "latency")
    cases = ("changed module, compiled", "changed module, from the compiled cache",
             "[config]-only change", "[config]-only change, isolation kvm",
             "failed requests during the reloads")
    got = [rows.get(c) for c in cases]
    if all(g is None for g in got):
        return _absent("reload_latency", what, target, "reload")

    def ms(r):
        return "-" if r is None or r["value"] != r["value"] else f"{r['value']:.1f}"
    failed = got[4]
    measured = f"{ms(got[0])} / {ms(got[1])} / {ms(got[2])} ms, kvm {ms(got[3])} ms"
    if failed is not None:
        measured += f"; {failed['value']} failed of {failed.get('requests', '?')}"
    return _t("reload_latency", what, target, measured,
              _all(g.get("met") for g in got if g is not None))


def snapshot(res):
    what = "an instance of a tenant with an expensive configure, from its snapshot"
    target = "≤ 50 µs"
    rows = _reload(res, "snapshot")
    snap = rows.get("instance start, from the snapshot")
    conf = rows.get("instance start, configured (instantiate + configure)")
    if snap is None:
        return _absent("snapshot", what, target, "reload")
    return _t("snapshot", what, target, f"{snap['value']:.1f} µs"
              + (f" (configured: {conf['value'] / 1e3:.1f} ms)" if conf else ""), snap["met"])


def fresh(res):
    what = "`instance = \"fresh\"` request vs a reused instance, in process (C pool), " \
           "64 B / 1 MiB"
    target = "≤ 2x / ≤ 1.3x"
    rows = _reload(res, "fresh")
    got = [rows.get(f"{size}: fresh from the snapshot (C pool) / reused")
           for size in ("64 B", "1 MiB")]
    if all(g is None for g in got):
        return _absent("fresh", what, target, "reload")
    return _t("fresh", what, target,
              " / ".join("-" if g is None else f"{g['value']:.2f}x" for g in got),
              _all(g.get("met") for g in got if g is not None))


TARGETS = (hostcall, kv,                                                  # the host API
           warm_call, cold_call, reset, stream, guest_kernel,               # the guest
           crc_best, crc_vs_pypi, python_api, json_simdjson, csv_index,     # the kernels
           vector_numpy,
           tenant_kvm, tenant_fresh,                                        # tenant offload
           serve_hello, serve_p99, serve_etag, serve_cpu, abuse, deadline,  # serving
           reload_latency, snapshot, fresh)                                 # hot reload


def evaluate(results: dict) -> list[dict]:
    """Every target against one run (see the module docstring)."""
    return [t(results) for t in TARGETS]


def _cell(t: dict) -> str:
    if t["target"] == NO_TARGET:
        return t["measured"].replace("|", "\\|")
    verdict = {True: "met", False: "**missed**", None: "not judged"}[t["met"]]
    return f"{t['measured']} ({verdict})".replace("|", "\\|")


def table(runs: dict[str, dict]) -> str:
    """Markdown: one row per target, one column per machine kind in ``runs``."""
    kinds = list(runs)
    evaluated = {k: evaluate(r) for k, r in runs.items()}
    out = ["| what | target | " + " | ".join(f"{k}" for k in kinds) + " |",
           "|---|---|" + "---|" * len(kinds)]
    for i, t in enumerate(evaluate({})):
        out.append(f"| {t['what']} | {t['target']} | "
                   + " | ".join(_cell(evaluated[k][i]) for k in kinds) + " |")
    return "\n".join(out)


def text(results: dict) -> str:
    """The targets against one run, for the terminal."""
    lines = ["== the issues' targets on this machine " + "=" * 39]
    if results.get("quick"):
        lines.append("(a quick run: small sizes, short timings -- judge with a full run)")
    for t in evaluate(results):
        mark = "" if t["target"] == NO_TARGET else \
            {True: "[met] ", False: "[MISSED] ", None: "[not judged] "}[t["met"]]
        target = "" if t["target"] == NO_TARGET else f" (target {t['target']})"
        lines.append(f"{mark}{t['what']}{target}\n    {t['measured']}")
    return "\n".join(lines)
