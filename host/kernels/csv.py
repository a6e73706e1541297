"""CSV kernels (RFC 4180 + dialects): Python API and ``edgehost kernel csv``.

The dialect and the output layout are documented in
``native_modules/kernels/csv/csv.h``. In short: rows end at ``\\n`` outside
quotes (a ``\\r`` before it is dropped), quoted fields may hold delimiters,
line ends and doubled quotes, and ``strict`` turns RFC 4180 quoting errors
into :class:`CsvError` with the byte offset. A blank line is an empty row
(``[]``), as in Python's ``csv`` module.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from edgehost.errors import KernelError
from edgehost.isolation import resolve as resolve_isolation
from edgehost.kernels._common import STATUS_MESSAGES, nbytes, run_request
from edgehost.wasm_config import abi

KERNEL_INDEX = abi.Kernel.CSV_INDEX
KERNEL_FIELDS = abi.Kernel.CSV_FIELDS
F_STRICT = abi.CSV["F_STRICT"]
F_RECT = abi.CSV["F_RECT"]
ROW_END = 0x8000_0000
QUOTED = 0x4000_0000
OFFSET_MASK = 0x3FFF_FFFF

ERROR_KINDS = {
    1: "unterminated-quote",
    2: "quote-in-unquoted-field",
    3: "unexpected-after-closing-quote",
    4: "ragged-row",
    5: "input-too-large",
    6: "bad-dialect",
}


class CsvError(KernelError):
    """Malformed CSV (or a bad dialect); ``kind`` names it, ``offset`` is the byte."""

    def __init__(self, kernel: str, code: int, kind: str, offset: int | None):
        self.kind = kind
        super().__init__(kernel, code, kind, offset=offset)


def _byte(name: str, value: str | bytes) -> int:
    b = value.encode() if isinstance(value, str) else bytes(value)
    if len(b) != 1 or b == b"\0":  # the ABI reads 0 as "the default"
        raise CsvError("csv", -1, f"bad-dialect: {name} must be one byte other than NUL, "
                                  f"not {value!r}", None)
    return b[0]


def _run(kernel: int, data, out_cap: int, *, delimiter, quote, flags, isolation):
    """One kernel call; returns (res, out) with ``out`` an array('I') of out_cap
    bytes. Grows ``out`` once on ENOSPC (the kernel says how much it needs).
    ``data`` is read in place."""
    iso = resolve_isolation(isolation)
    d, q = _byte("delimiter", delimiter), _byte("quote", quote)
    name = abi.kernel_name(kernel)
    while True:
        out_cap = (max(out_cap, 4) + 3) & ~3
        out = array("I", [0]) * (out_cap // 4)
        res = run_request(name, kernel, iso, data=data, out=out, args=(d, q), flags=flags)
        if res.status == abi.KStatus.ENOSPC and res.out_len > out_cap:
            out_cap = res.out_len
            continue
        if res.status < 0:
            kind = ERROR_KINDS.get(res.detail, STATUS_MESSAGES.get(res.status, "error"))
            off = res.err_offset if res.status == abi.KStatus.EPARSE else None
            raise CsvError(name, res.status, kind, off)
        return res, out


def _flags(strict: bool, rectangular: bool) -> int:
    return (F_STRICT if strict else 0) | (F_RECT if rectangular else 0)


@dataclass
class CsvIndex:
    """Field end offsets into ``data`` (see csv.h); nothing is copied:
    ``data`` is the caller's buffer (bytes-like), kept for :meth:`spans`."""

    data: bytes | memoryview
    ends: array  # array('I'): the separator ending each field
    row_count: int

    def spans(self) -> list[list[tuple[int, int]]]:
        """Raw (start, end) byte range of every field, row by row (blank rows: [])."""
        data = memoryview(self.data).cast("B")
        n = len(data)
        rows: list[list[tuple[int, int]]] = []
        row: list[tuple[int, int]] = []
        start = 0
        for e in self.ends:
            is_end = e == n or data[e] == 10
            end = e - 1 if is_end and e > start and data[e - 1] == 13 else e
            row.append((start, end))
            if is_end:
                rows.append([] if len(row) == 1 and end == start else row)
                row = []
            start = e + 1
        return rows

    def ragged_rows(self) -> list[int]:
        """Indices of non-blank rows whose width differs from the first non-blank row."""
        widths = [len(r) for r in self.spans()]
        first = next((w for w in widths if w), 0)
        return [i for i, w in enumerate(widths) if w and w != first]


def _as_buffer(data):
    """str is encoded as UTF-8; any other C-contiguous buffer is used in place."""
    return data.encode() if isinstance(data, str) else data


def csv_index(data, delimiter: str = ",", quote: str = '"', strict: bool = False,
              rectangular: bool = False, *, isolation: str | None = None) -> CsvIndex:
    """Structural index of ``data`` (str or any bytes-like buffer, read in
    place): one end offset per field (EH_KERNEL_CSV_INDEX)."""
    data = _as_buffer(data)
    res, ends = _run(KERNEL_INDEX, data, nbytes(data) + 64, delimiter=delimiter,
                     quote=quote, flags=_flags(strict, rectangular), isolation=isolation)
    del ends[res.out_len // 4:]
    return CsvIndex(data, ends, res.value >> 32)


def csv_rows(data, delimiter: str = ",", quote: str = '"', strict: bool = False,
             rectangular: bool = False, *, isolation: str | None = None) -> list[list[bytes]]:
    """Unescaped field values, row by row (EH_KERNEL_CSV_FIELDS); blank lines
    are []. ``data``: str or any bytes-like buffer, read in place."""
    data = _as_buffer(data)
    res, out = _run(KERNEL_FIELDS, data, 2 * nbytes(data) + 64,
                    delimiter=delimiter, quote=quote, flags=_flags(strict, rectangular),
                    isolation=isolation)
    nfields = res.value & 0xFFFF_FFFF
    raw = memoryview(out).cast("B")
    values = bytes(raw[4 * nfields: res.out_len])
    tags = out[:nfields]
    rows: list[list[bytes]] = []
    row: list[bytes] = []
    start = 0
    for t in tags:
        end = t & OFFSET_MASK
        row.append(values[start:end])
        if t & ROW_END:
            blank = len(row) == 1 and end == start and not t & QUOTED
            rows.append([] if blank else row)
            row = []
        start = end
    return rows


__all__ = ["csv_index", "csv_rows", "CsvIndex", "CsvError"]
