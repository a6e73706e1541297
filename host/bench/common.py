"""Measuring and reporting for ``edgehost bench``.

Rules every benchmark follows: medians over several runs, peers measured in
the same run, figures measured (never typed in). Rows are plain dicts with at
least ``bench`` and ``impl``; ``--json`` prints the list, otherwise a table.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import click

# Option types: counts of runs, calls and rounds; lengths of timed runs.
COUNT = click.IntRange(min=1)
POSITIVE_MS = click.FloatRange(min=0, min_open=True)


def time_per_call(fn: Callable[[], object], *, number: int, repeat: int = 5) -> list[float]:
    """Seconds per call of ``fn`` for each of ``repeat`` runs of ``number`` calls."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        out.append((time.perf_counter_ns() - t0) / 1e9 / number)
    return out


def int_list(text: str, option: str) -> list[int]:
    """The integers of a comma-separated option value (empty items skipped);
    anything else is click's usage error on ``option``."""
    try:
        return [int(s) for s in text.split(",") if s]
    except ValueError:
        raise click.BadParameter(f"not a list of integers: {text}", param_hint=option) from None


def autorange(fn: Callable[[], object], *, target_s: float = 0.05) -> int:
    """A call count that makes one run last about ``target_s``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or n >= 1 << 24:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def median(xs) -> float:
    return statistics.median(xs)


def percentile(xs, p: float) -> float:
    """Nearest-rank percentile of ``xs`` (p in 0..100)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def gbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e9


def emit(rows: list[dict], as_json: bool, *, title: str = "") -> None:
    """Print rows as JSON (a list) or as an aligned table, each naming the
    machine it was measured on: every JSON row carries ``machine`` (the kind,
    e.g. ``amd-f25m1-avx2``) and ``cpu_model``; a table's title line is
    followed by the machine's summary (``edgehost bench all --json`` writes
    the whole record once instead)."""
    from edgehost.bench import machine

    rec = machine.record()
    if as_json:
        tagged = [{**r, "machine": r.get("machine", rec["kind"]),
                   "cpu_model": r.get("cpu_model", rec["cpu_model"])} for r in rows]
        click.echo(json.dumps(tagged, indent=1))
        return
    if title:
        click.echo(title)
    click.echo(f"machine: {machine.summary(rec)}")
    if not rows:
        click.echo("(no rows)")
        return
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def served_metrics(admin_port: int, tenant: str, *names: str) -> dict[str, float | None]:
    """Each named metric of ``tenant`` from an ``edgehost serve`` admin
    listener's /metrics, summed over its samples (status codes, say); None
    for a metric with no sample."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float | None] = dict.fromkeys(names)
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        if name in out and f'tenant="{tenant}"' in rest.partition("}")[0]:
            out[name] = (out[name] or 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def input_path(before: dict, after: dict) -> str:
    """What the monitor did with the inputs of the calls between two guest
    stats snapshots: "in place" (through a window), "copied", or a mix."""
    n = after["calls"] - before["calls"]
    mapped = after["mapped_calls"] - before["mapped_calls"]
    return "in place" if mapped == n else "copied" if mapped == 0 else f"in place {mapped}/{n}"


def family_rows(results: dict, family: str) -> list[dict]:
    """The rows of one family of a ``bench all`` result document ([] if absent)."""
    return (results.get("families", {}).get(family) or {}).get("rows") or []


def value_range(vals, fmt: str = "{:.2f}") -> str:
    """The range of the values that are not None as ``lo–hi``; one value
    when both ends print alike, ``-`` when there are none."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    lo, hi = fmt.format(min(vals)), fmt.format(max(vals))
    return lo if lo == hi else f"{lo}–{hi}"
