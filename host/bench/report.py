"""Readable terminal tables for ``edgehost bench all``: one per family.

A family whose rows have one figure per size (or per input document) is
shown as a pivot -- one line per implementation, one column per size --
with its remaining rows (ratios, crossovers, notes) listed after it; any
other family, including ones added later (serve, kv, reload), is shown as a
plain table of the columns its rows fill. Numbers keep three significant
digits; long notes are cut to the terminal's width.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Pivot:
    """Rows with ``value`` set become one line per ``keys`` tuple and one
    column per distinct ``column`` value; ``unit`` names the figure."""

    keys: tuple[str, ...]
    column: str
    value: str
    unit: str
    scale: float = 1.0


PIVOTS = {
    "crc32c": Pivot(("impl", "variant", "isolation"), "size", "gbps", "GB/s"),
    "csv": Pivot(("impl", "variant", "isolation"), "input", "gbps", "GB/s"),
    "json": Pivot(("impl", "variant", "isolation"), "input", "gbps", "GB/s"),
    "vector": Pivot(("impl", "variant", "isolation"), "input", "gbps", "GB/s"),
    "stream": Pivot(("impl", "op"), "size", "gbps", "GB/s"),
    "tenant": Pivot(("op", "impl"), "target", "ns_per_op", "µs per operation", 1e-3),
    "serve": Pivot(("impl",), "workers", "rps", "requests/s by workers"),
}


def human_bytes(n) -> str:
    """64 -> '64 B', 65536 -> '64 KiB', 1 << 20 -> '1 MiB'."""
    if not isinstance(n, int | float) or isinstance(n, bool):
        return str(n)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v == int(v) or v >= 100 else f"{v:.3g} {unit}"
    return f"{n:.0f} B"


def fmt(v) -> str:
    """A cell: floats to three significant digits (thousands separated)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v:,}"
    return str(v)


def grid(header: list[str], body: list[list[str]], *, right: set[int] = frozenset()) -> str:
    """An aligned text table; columns in ``right`` are right-aligned."""
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join((c.rjust(w) if i in right else c.ljust(w))
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    return "\n".join(out)


def plain(rows: list[dict], *, note_width: int = 70) -> str:
    """Every column some row fills (``bench`` left out), in first-seen order."""
    cols: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k != "bench" and k not in cols and v is not None:
                cols.append(k)
    if "note" in cols:  # notes read best last
        cols.remove("note")
        cols.append("note")
    body = []
    for r in rows:
        cells = [fmt(r.get(c)) for c in cols]
        if "note" in cols and len(cells[-1]) > note_width:
            cells[-1] = cells[-1][:note_width - 1] + "…"
        body.append(cells)
    numeric = {i for i, c in enumerate(cols)
               if any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
                      for r in rows)}
    return grid(cols, body, right=numeric)


def pivot(rows: list[dict], spec: Pivot) -> tuple[str, list[dict]]:
    """The pivot table of the rows ``spec`` covers, and the rows it leaves out."""
    covered = [r for r in rows if spec.value in r and all(k in r for k in spec.keys)
               and spec.column in r and not _is_summary(r)]
    rest = [r for r in rows if r not in covered]
    if not covered:
        return "", rows
    columns: list = []
    for r in covered:
        if r[spec.column] not in columns:
            columns.append(r[spec.column])
    if all(isinstance(c, int | float) for c in columns):
        columns.sort()
    lines: dict[tuple, dict] = {}
    notes: dict[tuple, str] = {}
    for r in covered:
        key = tuple(r.get(k) for k in spec.keys)
        cell = lines.setdefault(key, {})
        v = r.get(spec.value)
        cell[r[spec.column]] = None if v is None else v * spec.scale
        if v is None and r.get("note"):
            notes[key] = r["note"]
    header = list(spec.keys) + [human_bytes(c) if spec.column in ("size", "target") else str(c)
                                for c in columns]
    body = []
    for key, cells in lines.items():
        vals = [fmt(cells.get(c)) if cells.get(c) is not None else
                ("-" if c in cells else "") for c in columns]
        body.append([fmt(k) for k in key] + vals)
    n = len(spec.keys)
    text = grid(header, body, right=set(range(n, n + len(columns))))
    missing = [f"  {' / '.join(fmt(k) for k in key)}: {note}" for key, note in notes.items()]
    if missing:
        text += "\n(-: not measured)\n" + "\n".join(missing)
    return text, rest


def _is_summary(r: dict) -> bool:
    impl = str(r.get("impl", ""))
    return impl.startswith(("ratio", "crossover")) or ("ratio" in r and r.get("gbps") is None)


def family_table(name: str, rows: list[dict]) -> str:
    """The terminal table(s) for one family's rows."""
    if not rows:
        return "(no rows)"
    spec = PIVOTS.get(name)
    parts = []
    rest = rows
    if spec is not None:
        text, rest = pivot(rows, spec)
        if text:
            parts.append(f"[{spec.unit}]\n{text}")
    if rest:
        parts.append(plain(rest))
    return "\n\n".join(parts)


def render(results: dict) -> str:
    """Every family of a ``bench all`` result, with a header per family."""
    out = []
    for name, fam in results["families"].items():
        head = f"== {name} ({fam['status']}, {fam['seconds']:.1f} s) "
        out.append(head + "=" * max(0, 78 - len(head)))
        if fam["status"] != "ok":
            out.append(f"  {fam.get('error') or fam['status']}")
        if fam.get("rows"):
            out.append(family_table(name, fam["rows"]))
        out.append("")
    return "\n".join(out)
