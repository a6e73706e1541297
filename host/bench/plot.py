"""Charts for ``edgehost bench all --plot DIR``: one PNG per family
(matplotlib, Agg backend; ``pip install 'edgehost[bench]'``).

Every chart has a title, units on its axes, a log scale where the figures or
sizes span decades, and one colour family per kind of implementation, the
same in every chart: ours in process (blue), ours in the KVM guest (orange),
compiled to WASM (green), the seed's slow baselines (grey), and the peers a
user would pick instead (red, hatched bars / dotted lines). The machine the
figures were measured on is printed under each chart.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import pathlib

from edgehost.bench.machine import summary as machine_summary
from edgehost.bench.report import human_bytes

CATEGORIES = {  # category -> (colour map, legend text)
    "inproc": ("Blues", "edgehost, in process"),
    "guest": ("Oranges", "edgehost, in the KVM guest"),
    "wasm": ("Greens", "compiled to WASM (wasmtime)"),
    "baseline": ("Greys", "slow baselines (tables, scalar)"),
    "peer": ("Reds", "peers (PyPI / Python / nginx ...)"),
}
SLOW_VARIANTS = {"byte", "slice8", "slice16", "scalar", "swar"}
OURS = ("edgehost", "native", "kvm", "offload", "inproc", "stream")


def category(row: dict) -> str:
    """Which kind of implementation a row measures (see CATEGORIES)."""
    impl = str(row.get("impl", ""))
    iso = str(row.get("isolation", "") or "")
    if iso.startswith("wasm") or impl.startswith("wasm"):
        return "wasm"
    if not impl.startswith(OURS):
        return "peer"
    if iso.startswith("kvm") or impl.startswith(("kvm", "offload kvm")):
        return "guest"
    if row.get("variant") in SLOW_VARIANTS:
        return "baseline"
    return "inproc"


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


class Palette:
    """Distinct shades within each category, in order of first use."""

    def __init__(self, labels_by_cat: dict[str, list[str]]):
        plt = _plt()
        self.colour = {}
        for cat, labels in labels_by_cat.items():
            cmap = plt.get_cmap(CATEGORIES[cat][0])
            n = len(labels)
            for i, label in enumerate(labels):
                self.colour[label] = cmap(0.85 - 0.45 * (i / max(n - 1, 1)) if n > 1 else 0.75)


def _series(rows, label_of, value_key):
    """label -> (category, rows with a value), in first-seen order."""
    out: dict[str, tuple[str, list[dict]]] = {}
    for r in rows:
        if r.get(value_key) is None or not isinstance(r.get(value_key), int | float):
            continue
        label = label_of(r)
        if label is None:
            continue
        out.setdefault(label, (category(r), []))[1].append(r)
    return out


def _palette(series) -> Palette:
    by_cat: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for label, (cat, _) in series.items():
        by_cat[cat].append(label)
    return Palette(by_cat)


def _footer(fig, results: dict) -> None:
    rec = results.get("machine", {})
    mode = "quick run" if results.get("quick") else "full run"
    fig.text(0.01, 0.005, f"{machine_summary(rec)} · {rec.get('when', '')} · {mode} · "
             f"load {rec.get('loadavg')}", fontsize=7, color="#555555", ha="left", va="bottom")


def _size_axis(ax, sizes) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_minor_formatter(NullFormatter())
    lo, hi = min(sizes), max(sizes)
    ticks = [1 << k for k in range(int(math.log2(lo)), int(math.log2(hi)) + 2)
             if lo / 1.5 <= 1 << k <= hi * 1.5]
    step = 1
    while len(ticks[::step]) > 6:  # powers of 4, then of 16: labels must not collide
        step *= 2
    ticks = ticks[::step]
    ax.set_xticks(ticks)
    ax.set_xticklabels([human_bytes(t) for t in ticks], fontsize=8)


def _log_if_wide(ax, values, axis="y") -> bool:
    """A log axis where the values span more than ~1.5 decades; says which."""
    vals = [v for v in values if v and v > 0]
    if vals and max(vals) / min(vals) > 30:
        _log(ax, axis)
        return True
    return False


def _scaled(label: str, logged: bool) -> str:
    return f"{label} (log scale)" if logged and "log scale" not in label else label


def _log(ax, axis="y") -> None:
    """A log axis with labels on the decades only (minor labels cost most of
    the drawing time and crowd the axis)."""
    from matplotlib.ticker import NullFormatter

    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    (ax.yaxis if axis == "y" else ax.xaxis).set_minor_formatter(NullFormatter())


def _legend(ax, **kw) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=7, **kw)


# -- chart kinds ----------------------------------------------------------------------------
def lines_by_size(ax, rows, label_of, value_key, *, scale=1.0, ylabel=""):
    """One line per series over the sizes; peers dotted, baselines dashed."""
    series = _series(rows, label_of, value_key)
    pal = _palette(series)
    sizes, values = [], []
    for label, (cat, rs) in series.items():
        rs = sorted(rs, key=lambda r: r["size"])
        xs = [r["size"] for r in rs]
        ys = [r[value_key] * scale for r in rs]
        style = {"peer": ":", "baseline": "--"}.get(cat, "-")
        ax.plot(xs, ys, style, marker="o", markersize=3, color=pal.colour[label], label=label,
                linewidth=1.6 if cat != "baseline" else 1.1)
        sizes += xs
        values += ys
    logged = False
    if sizes:
        _size_axis(ax, sizes)
        logged = _log_if_wide(ax, values)
    ax.set_xlabel("input size (bytes, log scale)")
    ax.set_ylabel(_scaled(ylabel, logged))
    ax.grid(True, which="major", alpha=0.3)


def grouped_bars(ax, rows, group_of, label_of, value_key, *, scale=1.0, ylabel="",
                 horizontal=False):
    """Bars per group (x) and series (colour); peers hatched."""
    series = _series(rows, label_of, value_key)
    groups: list = []
    for _, (_, rs) in series.items():
        for r in rs:
            if group_of(r) not in groups:
                groups.append(group_of(r))
    pal = _palette(series)
    width = 0.8 / max(len(series), 1)
    values = []
    for i, (label, (cat, rs)) in enumerate(series.items()):
        by_group = {group_of(r): r[value_key] * scale for r in rs}
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))
              if groups[g] in by_group]
        ys = [by_group[groups[g]] for g in range(len(groups)) if groups[g] in by_group]
        bar = ax.barh if horizontal else ax.bar
        bar(xs, ys, width * 0.95, color=pal.colour[label], label=label,
            hatch="//" if cat == "peer" else None,
            edgecolor="#7f0000" if cat == "peer" else "white", linewidth=0.4)
        values += ys
    ticks = list(range(len(groups)))
    if horizontal:
        ax.set_yticks(ticks)
        ax.set_yticklabels([str(g) for g in groups], fontsize=8)
        ax.set_xlabel(_scaled(ylabel, _log_if_wide(ax, values, "x")))
        ax.invert_yaxis()
    else:
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(g) for g in groups], fontsize=8,
                           rotation=30 if len(groups) > 5 else 0, ha="right" if len(groups) > 5
                           else "center")
        ax.set_ylabel(_scaled(ylabel, _log_if_wide(ax, values)))
    ax.grid(True, axis="x" if horizontal else "y", alpha=0.3)


def bars(ax, rows, label_of, value_key, *, scale=1.0, xlabel=""):
    """One horizontal bar per row (best first), coloured by category."""
    items = [(label_of(r), r) for r in rows if isinstance(r.get(value_key), int | float)
             and label_of(r) is not None]
    series = {label: (category(r), [r]) for label, r in items}
    pal = _palette(series)
    labels = [lab for lab, _ in items]
    vals = [r[value_key] * scale for _, r in items]
    cats = [category(r) for _, r in items]
    ax.barh(range(len(items)), vals, color=[pal.colour[lab] for lab in labels],
            hatch=None, edgecolor=["#7f0000" if c == "peer" else "white" for c in cats],
            linewidth=0.4)
    for i, c in enumerate(cats):
        if c == "peer":
            ax.patches[i].set_hatch("//")
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(_scaled(xlabel, _log_if_wide(ax, vals, "x")))
    ax.grid(True, axis="x", alpha=0.3)
    # one legend entry per category present
    import matplotlib.patches as mpatches
    seen = []
    for c in cats:
        if c not in seen:
            seen.append(c)
    cmap = _plt().get_cmap
    ax.legend(handles=[mpatches.Patch(color=cmap(CATEGORIES[c][0])(0.7), label=CATEGORIES[c][1],
                                      hatch="//" if c == "peer" else None) for c in seen],
              fontsize=7, loc="lower right")


# -- per family -----------------------------------------------------------------------------
def _impl_label(r):
    parts = [str(r.get("impl"))]
    if r.get("variant") not in (None, "", "-", "auto"):
        parts.append(str(r["variant"]))
    if r.get("isolation") not in (None, "", "inproc"):
        parts.append(str(r["isolation"]))
    return " ".join(parts)


def _best_only(rows, keep_all=("inproc", "baseline", "peer")):
    """Per (category, isolation), keep only the fastest variant's rows: the
    guest and WASM runs of every slow variant would bury the chart."""
    best: dict[tuple, tuple[float, str]] = {}
    for r in rows:
        cat = category(r)
        if cat in keep_all or r.get("gbps") is None:
            continue
        key = (cat, r.get("isolation"))
        v = r["gbps"] * r.get("size", 1)  # weights large sizes: the variant's speed
        if key not in best or v > best[key][0]:
            best[key] = (v, r.get("variant"))
    return [r for r in rows if category(r) in keep_all
            or best.get((category(r), r.get("isolation")), (0, None))[1] == r.get("variant")]


def chart_crc32c(fig, rows):
    ax = fig.add_subplot(1, 1, 1)
    rows = [r for r in _best_only(rows) if r.get("gbps") and "size" in r]
    lines_by_size(ax, rows, _impl_label, "gbps", ylabel="throughput (GB/s)")
    ax.set_title("CRC32C: carry-less multiply vs tables vs WASM vs PyPI packages")
    _legend(ax, loc="upper left", ncol=2)


def chart_tenant(fig, rows):
    from edgehost.bench.tenant import OP_LABELS, OPS

    crossings = [r for r in rows if r.get("impl") == "crossover"]
    ops = [op for op in OPS if any(r.get("op") == op and r.get("ns_per_op") for r in rows)]
    for i, op in enumerate(ops):
        ax = fig.add_subplot(2, 3, i + 1)
        rs = [r for r in rows if r.get("op") == op and r.get("ns_per_op")]
        lines_by_size(ax, rs, lambda r: r["impl"], "ns_per_op", scale=1e-3,
                      ylabel="µs per operation (log scale)")
        _log(ax)
        ax.set_title(OP_LABELS[op], fontsize=9)
        for c in crossings:
            if c["op"] == op and c.get("crossover_bytes") and c["from_size"] != min(
                    r["size"] for r in rs):
                colour = "#1f4e9a" if c["vs"] == "offload inproc" else "#d35400"
                ax.axvline(c["crossover_bytes"], color=colour, linestyle="--", linewidth=0.9)
                ax.annotate(f"{c['vs'].split()[-1]} pays ≥ {human_bytes(c['crossover_bytes'])}",
                            (c["crossover_bytes"], 0.02), xycoords=("data", "axes fraction"),
                            fontsize=6, color=colour, rotation=90, ha="right", va="bottom")
        if i == 0:
            _legend(ax, loc="upper left")
    if len(ops) < 6:  # the decision in words, computed from the run
        ax = fig.add_subplot(2, 3, 6)
        ax.axis("off")
        lines = ["Where offloading starts to pay", "(vs the faster of the tenant's own builds)", ""]
        for c in crossings:
            lo, hi = (int(x) for x in str(c["sizes"]).split(".."))
            when = ("not up to " + human_bytes(hi) if not c.get("crossover_bytes") else
                    f"already at {human_bytes(lo)}" if c["from_size"] == lo else
                    f"from ~{human_bytes(c['crossover_bytes'])}")
            lines.append(f"{c['op']:>5} via {c['vs'].split()[-1]:>6}: {when}")
        ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=7.5)
    fig.suptitle("Tenant to kernel: the tenant's own WASM code vs offloading "
                 "(edgehost.offload), per operation")


def chart_stream(fig, rows):
    sizes = sorted({r["size"] for r in rows if r.get("gbps")})
    for i, size in enumerate(sizes):
        ax = fig.add_subplot(1, len(sizes), i + 1)
        rs = [r for r in rows if r["size"] == size]
        grouped_bars(ax, rs, lambda r: r["op"], lambda r: r["impl"], "gbps",
                     ylabel="bandwidth (GB/s)")
        kind = "in cache" if size * 3 <= 2 << 20 else "memory-bound"
        ax.set_title(f"arrays of {human_bytes(size)} ({kind})", fontsize=9)
        if i == 0:
            _legend(ax, loc="lower left")
    fig.suptitle("STREAM: native vs KVM guest (2 MiB / 4 KiB pages) vs WASM")


def chart_csv(fig, rows):
    ax = fig.add_subplot(1, 1, 1)
    rs = [r for r in rows if r.get("gbps")]
    rs.sort(key=lambda r: -r["gbps"])
    bars(ax, rs, _impl_label, "gbps", xlabel="throughput (GB/s)")
    size = next((r["size"] for r in rs if r.get("size")), None)
    ax.set_title(f"CSV: SIMD indexing vs SWAR/scalar vs WASM vs csvmonkey/pyarrow/polars/csv"
                 f" ({human_bytes(size)} mixed file)")


def chart_json(fig, rows):
    inputs = [i for i in dict.fromkeys(r.get("input") for r in rows if r.get("gbps"))]
    for i, name in enumerate(inputs):
        ax = fig.add_subplot(1, len(inputs), i + 1)
        rs = sorted([r for r in rows if r.get("input") == name and r.get("gbps")],
                    key=lambda r: -r["gbps"])
        bars(ax, rs, _impl_label, "gbps", xlabel="throughput (GB/s)")
        ax.set_title(f"{name} ({human_bytes(rs[0]['size'])})", fontsize=9)
        if i:
            ax.get_legend().remove()
    fig.suptitle("JSON: SIMD validation vs the scalar parser vs WASM vs simdjson/orjson/json")


def chart_vector(fig, rows):
    ax = fig.add_subplot(1, 1, 1)

    def label(r):
        iso = r.get("isolation")
        if r.get("impl") == "edgehost" and iso == "inproc":
            return None if r.get("variant") in SLOW_VARIANTS and r.get("variant") != "scalar" \
                else f"edgehost {r['variant']}"
        return _impl_label(r)
    rs = [r for r in rows if r.get("gbps") and r.get("input") != "stream-triad"]
    grouped_bars(ax, rs, lambda r: r["input"], label, "gbps",
                 ylabel="GB/s of bytes touched (log scale)")
    _log(ax)
    ax.set_title("Vector kernels (1M float32; matvec 4096x256; top-10 of 100k x 128) vs numpy")
    _legend(ax, loc="upper center", ncol=5, bbox_to_anchor=(0.5, -0.15))


def chart_hostcall(fig, rows):
    ax = fig.add_subplot(1, 1, 1)
    grouped_bars(ax, [r for r in rows if r.get("ns_per_call")], lambda r: r["op"],
                 lambda r: r["impl"], "ns_per_call", ylabel="ns per call (log scale)")
    _log(ax)
    ax.set_title("Crossing the WASM boundary: edgehost's C host API vs wasmtime-py")
    _legend(ax, loc="upper left")


def chart_offload(fig, rows):
    ax = fig.add_subplot(1, 1, 1)
    rs = [r for r in rows if r.get("ns_per_call")]
    bars(ax, rs, lambda r: f"{r['impl']} {r['op']}", "ns_per_call", xlabel="ns per call")
    for i, r in enumerate(rs):
        if r.get("p99_ns"):
            ax.plot([r["p99_ns"]], [i], marker="|", color="black", markersize=8)
    ax.set_title("Calls into the KVM guest: warm, cold, exit round trip, create, reset "
                 "(bar: median, |: p99)")


def chart_generic(fig, rows):
    """A family without a chart of its own (serve, kv, reload, ...): its first
    figure column as bars per row."""
    metric = next((k for k in ("gbps", "requests_per_s", "rps", "ns_per_call", "ns_per_op",
                               "p50_ns", "ms", "us") if any(isinstance(r.get(k), int | float)
                                                            for r in rows)), None)
    if metric is None:
        metric = next((k for r in rows for k, v in r.items()
                       if isinstance(v, int | float) and not isinstance(v, bool)
                       and k not in ("size", "calls")), None)
    ax = fig.add_subplot(1, 1, 1)
    if metric is None:
        ax.axis("off")
        ax.text(0.5, 0.5, "no numeric figures in these rows", ha="center")
        return

    def label(r):
        parts = [str(r.get(k)) for k in ("impl", "op", "input", "variant", "isolation", "size",
                                         "workers")
                 if r.get(k) not in (None, "")]
        return " ".join(parts)[:60]
    bars(ax, rows, label, metric, xlabel=metric)


def chart_serve(fig, rows):
    """Requests/s per target and worker count; nginx is the peer."""
    ax = fig.add_subplot(1, 1, 1)

    def ours(r):  # the tenants are edgehost; nginx's static 200 is the yardstick
        if str(r.get("impl", "")).startswith("nginx"):
            return r
        iso = "kvm" if "kvm" in str(r.get("impl")) else "inproc"
        return {**r, "impl": f"edgehost {r['impl']}", "isolation": iso}
    rs = [ours(r) for r in rows if isinstance(r.get("rps"), int | float)]
    grouped_bars(ax, rs, lambda r: f"{r.get('workers', '?')} worker(s)", lambda r: r["impl"],
                 "rps", ylabel="requests per second")
    ax.set_title("HTTP: edgehost serve vs nginx's static 200 (wrk over loopback)")
    _legend(ax, loc="upper right")


CHARTS = {"crc32c": chart_crc32c, "serve": chart_serve, "tenant": chart_tenant,
          "stream": chart_stream, "csv": chart_csv, "json": chart_json, "vector": chart_vector,
          "hostcall": chart_hostcall, "offload": chart_offload}
SIZES = {"tenant": (13, 8), "json": (14, 6), "vector": (13, 6), "offload": (10, 6),
         "stream": (12, 5), "csv": (10, 6), "crc32c": (10, 6)}


def plot_family(name: str, rows: list[dict], out_dir: pathlib.Path, results: dict) -> pathlib.Path:
    """Write ``<out_dir>/<name>.png``; return its path."""
    plt = _plt()
    fig = plt.figure(figsize=SIZES.get(name, (10, 6)), dpi=110)
    try:
        CHARTS.get(name, chart_generic)(fig, rows)
        if not fig.get_suptitle() and not any(ax.get_title() for ax in fig.axes):
            fig.suptitle(f"edgehost bench {name}")
        _footer(fig, results)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        out = out_dir / f"{name}.png"
        fig.savefig(out)
        return out
    finally:
        plt.close(fig)


def plot_all(results: dict, out_dir: str | pathlib.Path) -> dict[str, str]:
    """One PNG per family with rows; family -> path, or the reason it has none.
    Charts are drawn in parallel, one process per CPU this process may use
    (Agg rendering and layout take ~1 s a chart on the 2-core test machines:
    13 s of a 65 s ``bench all --quick --plot`` drawn one after another)."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out, todo = {}, []
    for name, fam in results["families"].items():
        if fam.get("rows"):
            todo.append(name)
        else:
            out[name] = f"no chart: {fam.get('error') or 'no rows'}"
    workers = min(len(todo), len(os.sched_getaffinity(0)))
    if workers < 2:
        paths = [plot_family(n, results["families"][n]["rows"], out_dir, results) for n in todo]
    else:
        # fork: the children inherit the imported modules and the results
        ctx = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            paths = list(pool.map(plot_family, todo,
                                  [results["families"][n]["rows"] for n in todo],
                                  [out_dir] * len(todo), [results] * len(todo)))
    out.update((n, str(p)) for n, p in zip(todo, paths, strict=True))
    return {n: out[n] for n in results["families"]}  # in the families' order


def available() -> str | None:
    """None when matplotlib can be imported, else what to install."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is missing: pip install 'edgehost[bench]' (or pip install matplotlib)"
    return None
