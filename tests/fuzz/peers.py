"""Trusted-peer oracles for the CSV and JSON fuzz targets: what our kernels
must answer for one fuzz input, according to a well-kept parser.

libFuzzer runs the targets in C and compares the ISA variants with each
other; a C++ peer (simdjson) cannot be linked into those builds here
(tests.support.build_fuzzer compiles and links C only), so the peers judge
in Python, after each fuzz run, every input the run's corpus holds (the
machine's accumulated corpus, the seeds and the regression inputs): the
inputs libFuzzer kept for new coverage, not every input it executed.

Each function returns ``None`` when our answer agrees with the peer, else a
one-line description of the disagreement. Where our dialect or limits
differ from the peer's by design (json.h, csv.h), the difference is encoded
below explicitly, never by skipping the input.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import sys

import simdjson

from edgehost.kernels import csv as ck
from edgehost.kernels import json as jk


def corpus_files(target: str, *dirs: pathlib.Path) -> list[pathlib.Path]:
    """Every input of ``target``'s accumulated corpus on this machine
    (~/.cache/edgehost/fuzz-corpus/TARGET, as tests.support.run_fuzzer keeps
    it) and of ``dirs`` (the run's seeds, the regression inputs)."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    folders = (cache / "edgehost" / "fuzz-corpus" / target, *dirs)
    return sorted(p for d in folders if d.is_dir() for p in d.iterdir() if p.is_file())


# -- JSON: json-validate's verdict against simdjson's ------------------------------------------
BOM = b"\xef\xbb\xbf"
# json.h: arg[0] = 0 means depth 1024; simdjson's DOM parser has the same
# default limit (1024 nested arrays/objects accepted, 1025 refused).
DEPTH = 1024
SMALL_DEPTH = 3


def json_doc(data: bytes) -> bytes:
    """The document of a json_fuzz.c input: after the control byte, up to a
    "\\0\\0" that starts a pointer."""
    body = data[1:]
    split = body.find(b"\0\0")
    return body if split < 0 else body[:split]


def _depth(v) -> int:
    if isinstance(v, dict):
        return 1 + max(map(_depth, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(_depth, v), default=0)
    return 0


def _strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _stdlib_verdict(doc: bytes) -> bool:
    """RFC 8259 validity by the stdlib's json, made strict: UTF-8 only
    (surrogates, overlongs refused by the codec), no NaN/Infinity, no
    unpaired \\uD800-\\uDFFF escape (a lone surrogate survives decoding only
    from one), and our depth limit. Used only for documents simdjson refuses
    for a number's range (see json_peer)."""
    try:
        text = doc.decode("utf-8")
    except UnicodeDecodeError:
        return False
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(doc) + 1000))
    try:
        value = json.loads(text, parse_constant=_refuse_constant,
                           parse_int=lambda s: 0, parse_float=lambda s: 0.0)
    except (ValueError, RecursionError):
        return False
    finally:
        sys.setrecursionlimit(limit)
    if _depth(value) > DEPTH:
        return False
    return not any(0xD800 <= ord(c) <= 0xDFFF for s in _strings(value) for c in s)


def peer_json_valid(doc: bytes) -> bool:
    """Is ``doc`` valid JSON for our json-validate, according to simdjson
    (pysimdjson: the simdjson C++ library), with the documented differences:

    * a leading UTF-8 BOM: json.h takes UTF-8 without BOM (RFC 8259 section
      8.1: implementations MUST NOT add one); simdjson skips it. A document
      starting with a BOM is invalid for us, whatever follows.
    * number ranges: json.h checks the number grammar only (RFC 8259 section
      9 lets any range through); simdjson refuses doubles beyond its range
      (NUMBER_ERROR) and integers beyond 64 bits (BIGINT_ERROR). simdjson's
      NUMBER_ERROR also covers grammar errors, so such a document is judged
      by the stdlib's json made strict (_stdlib_verdict), which reads any
      range.
    """
    if doc.startswith(BOM):
        return False
    try:
        simdjson.Parser().parse(doc)
    except RuntimeError as exc:  # BIGINT_ERROR, DEPTH_ERROR, ...
        if "BIGINT_ERROR" in str(exc):
            return _stdlib_verdict(doc)
        return False
    except ValueError as exc:  # includes UnicodeDecodeError (UTF8_ERROR)
        if "NUMBER_ERROR" in str(exc):
            return _stdlib_verdict(doc)
        return False
    return True


def _nesting(doc: bytes) -> int:
    """Nesting depth of a document the peer accepted (the stdlib reads it;
    numbers are not converted, so no range or digit limit applies)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(doc) + 1000))
    try:
        return _depth(json.loads(doc.decode("utf-8"), parse_int=lambda s: 0,
                                 parse_float=lambda s: 0.0, parse_constant=_refuse_constant))
    finally:
        sys.setrecursionlimit(limit)


def json_peer(data: bytes) -> str | None:
    """Our json-validate (in process) against peer_json_valid at the default
    depth; and at the fuzz target's small limit (json_fuzz.c: 3 when bit 3
    of the control byte is set), valid exactly when the peer accepts and the
    document nests at most that deep, else too-deep at an opening bracket
    (or, for a document the peer refuses, any error)."""
    doc = json_doc(data)
    ours = jk.json_check(doc, isolation="inproc")
    peer = peer_json_valid(doc)
    if (ours is None) != peer:
        return f"ours {ours or 'valid'}, peer {'valid' if peer else 'invalid'}: {doc[:80]!r}"
    if not data[0] & 8:
        return None
    small = jk.json_check(doc, max_depth=SMALL_DEPTH, isolation="inproc")
    if not peer:
        return None if small is not None else f"valid at depth {SMALL_DEPTH}: {doc[:80]!r}"
    depth = _nesting(doc)
    if depth <= SMALL_DEPTH and small is None or depth > SMALL_DEPTH and small is not None \
            and small[0] == "too-deep" and doc[small[1]:small[1] + 1] in (b"[", b"{"):
        return None
    return f"depth {depth}, ours at max_depth {SMALL_DEPTH}: {small}: {doc[:80]!r}"


# -- CSV: our fields against Python's csv module ----------------------------------------------
def csv_dialect(data: bytes) -> tuple[str, str, bool, bool]:
    """csv_fuzz.c's reading of the control byte: delimiter, quote, strict,
    rectangular."""
    ctl = data[0]
    return (";" if ctl & 1 else ",", "'" if ctl & 2 else '"', bool(ctl & 4), bool(ctl & 8))


# csv.h keeps a bare '\r' (one neither before '\n' nor at the end of input)
# as data, outside quotes too, where Python's csv ends a row. Python reads
# this stand-in (no byte decodes to it) as data everywhere, which is our
# dialect; it becomes '\r' again in Python's values.
CR_AS_DATA = "\u0100"


def _python_rows(text: str, delim: str, quote: str, strict: bool) -> list[list[bytes]] | None:
    try:
        return [[f.replace(CR_AS_DATA, "\r").encode("latin-1") for f in row] for row in
                csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar=quote,
                           strict=strict, doublequote=True, skipinitialspace=False)]
    except csv.Error:
        return None


def _bare_cr_as_data(text: str) -> str:
    return "".join(CR_AS_DATA if c == "\r" and text[i + 1:i + 2] not in ("\n", "") else c
                   for i, c in enumerate(text))


def csv_peer(data: bytes) -> str | None:
    """Our CSV_FIELDS rows (non-strict, then the input's own strict and
    rectangular flags) against Python's csv reader on the same dialect.

    Encoded differences (csv.h): a bare '\r' is data for us (CR_AS_DATA);
    an input ending inside a quoted field is EPARSE for us in both modes,
    where Python's non-strict reader returns the field (its strict reader
    must raise); strict mode also refuses a quote inside an unquoted field
    (RFC 4180), which Python's strict reader takes as data."""
    delim, quote, strict, rect = csv_dialect(data)
    raw = data[1:]
    text = _bare_cr_as_data(raw.decode("latin-1"))  # one character per byte

    def ours(strict_: bool, rect_: bool = False):
        try:
            return ck.csv_rows(raw, delimiter=delim, quote=quote, strict=strict_,
                               rectangular=rect_, isolation="inproc")
        except ck.CsvError as exc:
            return (exc.kind, exc.offset)

    lenient = ours(False)
    py_lenient = _python_rows(text, delim, quote, False)
    py_strict = _python_rows(text, delim, quote, True)
    if isinstance(lenient, tuple):
        if lenient[0] != "unterminated-quote" or py_strict is not None:
            return f"non-strict: ours {lenient}, Python strict {py_strict!r:.80}: {raw[:80]!r}"
    elif lenient != py_lenient:
        return f"non-strict rows: ours {lenient!r:.120}, Python {py_lenient!r:.120}: {raw[:80]!r}"
    if strict:
        got = ours(True)
        if not isinstance(got, tuple):
            if got != py_strict:
                return f"strict rows: ours {got!r:.120}, Python {py_strict!r:.120}: {raw[:80]!r}"
        elif not (py_strict is None or got[0] == "quote-in-unquoted-field"
                  and raw[got[1]:got[1] + 1] == quote.encode()):
            return f"strict: ours {got}, Python strict accepts: {raw[:80]!r}"
    if rect and not isinstance(lenient, tuple):
        got = ours(False, True)
        widths = {len(r) for r in py_lenient if r}  # equal to ours, checked above
        if isinstance(got, tuple) != (len(widths) > 1) or \
                isinstance(got, tuple) and got[0] != "ragged-row":
            return f"rectangular: ours {got!r:.80} for widths {sorted(widths)}: {raw[:80]!r}"
    return None
