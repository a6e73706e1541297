"""Inputs of ``edgehost bench tenant`` and their reference answers: one
:class:`Case` per operation and body size, whose ``check`` says whether the
tenant's reply (bench.tenant.Reply) is right, computed independently of our
kernels (a PyPI CRC32C package, Python's csv and json, float64 sums)."""

from __future__ import annotations

import csv as stdcsv
import dataclasses
import io
import json as stdjson
import math
import random
import struct


@dataclasses.dataclass
class Case:
    op: str
    body: bytes
    query: str
    check: object  # Reply -> None (right) or a string saying what is wrong
    target: int = 0  # the size asked for; the body holds whole records, at most that


def _floats(rng: random.Random, n: int) -> bytes:
    try:
        import numpy as np
    except ImportError:
        return struct.pack(f"<{n}f", *(rng.gauss(0, 1) for _ in range(n)))
    return np.random.default_rng(rng.randrange(1 << 32)).standard_normal(n) \
        .astype("<f4").tobytes()


def _as_f32(data: bytes):
    try:
        import numpy as np
    except ImportError:
        return list(struct.unpack(f"<{len(data) // 4}f", data))
    return np.frombuffer(data, dtype="<f4").astype("f8")


def _crc_case(size, rng):
    body = rng.randbytes(size)
    want = _reference_crc32c(body)

    def check(r):
        got = r.value & 0xFFFFFFFF
        return None if got == want else f"crc {got:08x}, expected {want:08x}"
    return Case("crc", body, "", check)


def _reference_crc32c(data: bytes) -> int:
    """CRC32C by a PyPI package (independent of our kernels) where installed."""
    try:
        import crc32c
        return crc32c.crc32c(data)
    except ImportError:
        pass
    try:
        import google_crc32c
        return google_crc32c.value(data)
    except ImportError:
        from edgehost.kernels import crc32c as ours
        return ours(data, isolation="inproc")


CSV_WORDS = ["alpha", "beta", "edge", "host", "naïve", "東京"]


def csv_body(size: int, rng: random.Random) -> bytes:
    """CSV of at most ``size`` bytes (at least the header), whole rows only:
    numbers, words, quoted fields holding delimiters, doubled quotes and line
    breaks; every 7th row ends in CRLF."""
    out = bytearray(b"id,name,price,comment,flag\n")
    i = 0
    while True:
        comment = rng.choice(['"said ""hi"", left"', '"a, b"', '"two\nlines"', "plain", ""])
        row = f"{i},{rng.choice(CSV_WORDS)},{rng.uniform(0, 999):.2f},{comment}," \
              f"{rng.choice(['true', 'false'])}".encode() + (b"\r\n" if i % 7 == 6 else b"\n")
        if len(out) + len(row) > size:
            return bytes(out)
        out += row
        i += 1


def _csv_case(size, rng):
    body = csv_body(size, rng)
    rows = list(stdcsv.reader(io.StringIO(body.decode(), newline="")))
    want = (sum(len(r) for r in rows), len(rows))

    def check(r):
        got = (r.value & 0xFFFFFFFF, r.value >> 32)
        return None if got == want else f"(fields, rows) = {got}, expected {want}"
    return Case("csv", body, "", check)


def json_body(size: int, rng: random.Random) -> tuple[bytes, int]:
    """A JSON document of about ``size`` bytes (at most, above ~40 bytes):
    an array of small records, then ``"meta": {"count": N}`` at its end, so
    extracting the count walks past the whole array."""
    items, used = [], 32  # the frame: {"items":[],"meta":{"count":N}}
    while True:
        item = {"id": len(items), "name": rng.choice(CSV_WORDS),
                "price": round(rng.uniform(0, 99), 2), "tags": ["x", "y"][: rng.randrange(3)],
                "ok": rng.random() < 0.5}
        text = stdjson.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        if used + len(text) + 1 > size:
            break
        items.append(item)
        used += len(text) + 1
    doc = {"items": items, "meta": {"count": len(items)}}
    return stdjson.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), len(items)


def _json_case(size, rng):
    body, count = json_body(size, rng)

    def check(r):
        if r.detail not in (5, 6):  # wasm_config.abi.JSON_TYPES: int64, uint64
            return f"type {r.detail}, expected an integer"
        return None if r.value == count else f"count {r.value}, expected {count}"
    return Case("json", body, "", check)


def _dot_case(size, rng):
    n = max(1, size // 8)
    body = _floats(rng, 2 * n)
    a, b = _as_f32(body[:4 * n]), _as_f32(body[4 * n:])
    terms = [x * y for x, y in zip(a, b, strict=True)]
    want, scale = math.fsum(terms), math.fsum(abs(t) for t in terms)

    def check(r):
        got = struct.unpack("<f", struct.pack("<I", r.value & 0xFFFFFFFF))[0]
        # float32 sums reassociated across lanes: rounding relative to sum |a_i b_i|
        ok = abs(got - want) <= 1e-4 * scale + 1e-6
        return None if ok else f"dot {got!r}, expected {want!r}"
    return Case("dot", body, "", check)


def topk_shape(size: int) -> tuple[int, int, int]:
    """(dim, rows, k) for a top-k body of ``size`` bytes: a query row of dim
    floats, then the rows (dim 128 from 1 KiB up, smaller below)."""
    dim = max(2, min(128, size // 8))
    rows = max(1, size // (4 * dim) - 1)
    return dim, rows, min(10, rows)


def _topk_case(size, rng):
    dim, rows, k = topk_shape(size)
    body = _floats(rng, dim * (rows + 1))
    vals = _as_f32(body)
    q = vals[:dim]
    scores = [math.fsum(q[j] * vals[dim * (i + 1) + j] for j in range(dim)) for i in range(rows)] \
        if isinstance(vals, list) else list(vals[dim:].reshape(rows, dim) @ q)
    order = sorted(range(rows), key=lambda i: -scores[i])
    want = set(order[:k])
    kth = scores[order[k - 1]]

    def check(r):
        if r.value != k:
            return f"{r.value} rows, expected {k}"
        got = [struct.unpack_from("<I", r.out, 8 * i)[0] for i in range(k)]
        if set(got) == want:
            return None
        # ties within float32 rounding may pick another row of equal score
        tol = 1e-4 * max(1.0, abs(kth))
        bad = [g for g in got if g >= rows or scores[g] < kth - tol]
        return f"rows {sorted(got)}, expected {sorted(want)}" if bad else None
    return Case("topk", body, f"dim={dim}&k={k}", check)


CASES = {"crc": _crc_case, "csv": _csv_case, "json": _json_case, "dot": _dot_case,
         "topk": _topk_case}
