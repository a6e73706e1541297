"""``edgehost bench csv``: CSV structural indexing by variant and isolation
next to Python's csv module, pyarrow (single-threaded) and polars (one
thread), on a generated mixed file: ints, decimals, bare words and quoted
fields holding delimiters, doubled quotes and line breaks, LF and CRLF rows.

``edgehost`` rows time a C loop over one request (the kernel; index = field
offsets, fields = offsets plus unescaped values); ``api`` rows are per Python
call including building Python rows, as the peers' figures are.
"""

from __future__ import annotations

import csv as stdcsv
import io
import os
import random

import click

from edgehost.bench._kernelbench import NativeRequest, call_seconds, kvm_variant_rows
from edgehost.bench.common import COUNT, POSITIVE_MS, emit, gbps
from edgehost.errors import EdgehostError, IsolationUnavailable
from edgehost.kernels import csv as ck
from edgehost.kernels._common import use_variant, variants


def mixed_csv(target: int = 8 << 20, seed: int = 5) -> bytes:
    """About ``target`` bytes, 8 columns, roughly a third of the fields quoted."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "edge", "host", "naïve", "東京"]
    lines = [b"id,name,price,qty,comment,city,flag,note"]
    size, i = 0, 0
    while size < target:
        comment = rng.choice([
            '"said ""hello"", then left"', '"a, b and c"', '"two\nlines"', "plain text",
            '""', "", '"' + " ".join(rng.choices(words, k=4)) + '"'])
        row = ",".join([
            str(i), rng.choice(words), f"{rng.uniform(0, 1000):.2f}", str(rng.randrange(100)),
            comment, rng.choice(words), rng.choice(["true", "false"]),
            f'"{rng.choice(words)}, {rng.randrange(10**6)}"']).encode()
        lines.append(row)
        size += len(row) + 2
        i += 1
    eol = [b"\n", b"\r\n"]
    return b"".join(line + eol[k % 7 == 0] for k, line in enumerate(lines))


def _row(impl, variant, isolation, data, seconds, **extra):
    row = {"bench": "csv", "impl": impl, "variant": variant, "isolation": isolation,
           "input": "mixed", "size": len(data),
           "gbps": gbps(len(data), seconds) if seconds else None}
    row.update(extra)
    return row


def expected_counts(data: bytes) -> int:
    """fields | rows << 32 as the index kernel reports them, counted by
    Python's csv module (the generated files have no blank lines)."""
    rows = list(stdcsv.reader(io.StringIO(data.decode(), newline="")))
    return sum(len(r) for r in rows) | len(rows) << 32


def _ours(data, target_s):
    fields = len(ck.csv_index(data, isolation="inproc").ends)
    want = expected_counts(data)
    for variant, ok in variants("csv"):
        if not ok:
            why = "wasm32 (-msimd128) builds only" if variant == "simd128" else "CPU lacks it"
            yield _row("edgehost index", variant, "inproc", data, None, note=why)
            continue
        with use_variant("csv", variant):
            req = NativeRequest(ck.KERNEL_INDEX, data, out_cap=4 * fields, args=(44, 34))
            if req.run().value != want:  # checked before timing: a wrong answer is not timed
                yield _row("edgehost index", variant, "inproc", data, None,
                           note="wrong field/row count (vs Python's csv): not timed")
                continue
            yield _row("edgehost index", variant, "inproc", data, req.seconds(target_s))
    req = NativeRequest(ck.KERNEL_FIELDS, data, out_cap=4 * fields + len(data), args=(44, 34))
    yield _row("edgehost fields", "auto", "inproc", data, req.seconds(target_s))
    yield _row("edgehost api index", "auto", "inproc", data,
               call_seconds(lambda: ck.csv_index(data, isolation="inproc"), target_s, repeat=3))
    yield _row("edgehost api rows", "auto", "inproc", data,
               call_seconds(lambda: ck.csv_rows(data, isolation="inproc"), target_s, repeat=3))


def _kvm(data, target_s):
    """Timed only after kvm answers match the in-process one."""
    ref = ck.csv_index(data, isolation="inproc").ends
    try:
        same = sum(ck.csv_index(data, isolation="kvm").ends == ref for _ in range(3))
    except IsolationUnavailable as exc:
        return _row("edgehost api index", "auto", "kvm", data, None, note=str(exc))
    if same != 3:
        return _row("edgehost api index", "auto", "kvm", data, None,
                    note=f"{3 - same} of 3 kvm answers differ from inproc: not timed")
    return _row("edgehost api index", "auto", "kvm", data,
                call_seconds(lambda: ck.csv_index(data, isolation="kvm"), target_s, repeat=3))


def _kvm_guest(data, target_s):
    """Each variant in a guest, then the kernel's own speed there."""
    fields = len(ck.csv_index(data, isolation="inproc").ends)
    idx = NativeRequest(ck.KERNEL_INDEX, data, out_cap=4 * fields, args=(44, 34))
    yield from kvm_variant_rows(
        "csv", idx, target_s,
        lambda variant, iso, secs, **kw: _row("edgehost index", variant, iso, data, secs, **kw),
        "per call: input copy in + kernel + offsets copied out")


def _wasm(data, target_s):
    from edgehost.bench.wasmkernels import WasmKernels

    fields = len(ck.csv_index(data, isolation="inproc").ends)
    runs = [("scalar", "scalar"), ("scalar", "swar"), ("simd128", "swar"), ("simd128", "simd128")]
    for flavor, variant in runs:
        try:
            wk = WasmKernels(flavor, force=f"csv={variant}")
        except EdgehostError as exc:
            yield _row("edgehost index", variant, f"wasm/{flavor}", data, None, note=str(exc))
            continue
        out = wk.alloc(4 * fields + 4)
        out += -out % 4
        wk.request(ck.KERNEL_INDEX, data=(wk.put(data), len(data)), out=(out, 4 * fields),
                   args=(44, 34))
        if wk.run()[2] != expected_counts(data):
            yield _row("edgehost index", variant, f"wasm/{flavor}", data, None,
                       note="wrong field/row count (vs Python's csv): not timed")
            continue
        yield _row("edgehost index", variant, f"wasm/{flavor}", data,
                   min(wk.seconds_per_run(target_s=target_s)))


def _peers(data, target_s):
    text = data.decode()
    yield _row("python csv", "stdlib", "inproc", data, call_seconds(
        lambda: list(stdcsv.reader(io.StringIO(text, newline=""))), target_s, repeat=3))
    try:
        import pyarrow
        import pyarrow.csv as pacsv
    except ImportError:
        yield _row("pyarrow read_csv", "1 thread", "inproc", data, None,
                   note="pip install pyarrow")
    else:
        pyarrow.set_cpu_count(1)
        opts = pacsv.ReadOptions(use_threads=False)
        popts = pacsv.ParseOptions(newlines_in_values=True)
        yield _row("pyarrow read_csv", "1 thread", "inproc", data, call_seconds(
            lambda: pacsv.read_csv(io.BytesIO(data), read_options=opts, parse_options=popts),
            target_s, repeat=3))
    yield from _csvmonkey(data, text, target_s)
    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # read when polars is first imported
    try:
        import polars
    except ImportError:
        yield _row("polars read_csv", "1 thread", "inproc", data, None, note="pip install polars")
    else:
        yield _row("polars read_csv", f"{polars.thread_pool_size()} thread(s)", "inproc", data,
                   call_seconds(lambda: polars.read_csv(io.BytesIO(data)), target_s, repeat=3))


def _csvmonkey(data, text, target_s):
    """csvmonkey (SSE4.2 PCMPISTRI scanning, the seed's CSV anchor): rows as
    tuples, timed only if they equal Python's csv rows."""
    try:
        import csvmonkey
    except ImportError:
        yield _row("csvmonkey", "SSE4.2", "inproc", data, None, note="pip install csvmonkey")
        return

    def rows():
        return [r.astuple() for r in csvmonkey.from_file(io.BytesIO(data), header=False)]
    if rows() != [tuple(r) for r in stdcsv.reader(io.StringIO(text, newline=""))]:
        yield _row("csvmonkey", "SSE4.2", "inproc", data, None,
                   note="rows differ from Python's csv: not timed")
        return
    yield _row("csvmonkey", "SSE4.2", "inproc", data, call_seconds(rows, target_s, repeat=3),
               note="rows as tuples")


@click.command("csv")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--size", default=8 << 20, show_default=True, type=COUNT,
              help="Bytes of generated CSV.")
@click.option("--target-ms", default=30.0, show_default=True, type=POSITIVE_MS,
              help="Length of one timed run; each figure is a median.")
@click.option("--no-wasm", is_flag=True, help="Skip the wasm32 rows.")
def command(as_json, size, target_ms, no_wasm):
    """CSV indexing throughput by variant and isolation, next to csv/pyarrow/polars."""
    target_s = target_ms / 1000
    data = mixed_csv(size)
    rows = list(_ours(data, target_s))
    rows.append(_kvm(data, target_s))
    rows += list(_kvm_guest(data, target_s))
    rows += list(_peers(data, target_s))
    best = max((r["gbps"] or 0 for r in rows if r["impl"] == "edgehost index"
                and r["isolation"] == "inproc"), default=0)
    arrow = next((r["gbps"] for r in rows if r["impl"] == "pyarrow read_csv"), None)
    rows.append({"bench": "csv", "impl": "ratio index/pyarrow", "input": "mixed",
                 "size": len(data), "gbps": None,
                 "ratio": best / arrow if arrow else None, "target": ">= 5 and >= 2 GB/s"})
    if not no_wasm:
        rows += list(_wasm(data, target_s))
    emit(rows, as_json, title="CSV (GB/s; medians)")
