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
from edgehost.isolation import offload
from edgehost.kernels._common import STATUS_MESSAGES, default_isolation
from edgehost.native import ffi

KERNEL_INDEX = 2
KERNEL_FIELDS = 3
F_STRICT = 1
F_RECT = 2
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
        raise CsvError("csv", -1, f"bad-dialect: {name} must be one byte, not NUL", None)
    return b[0]


def _run(kernel: int, data: bytes, out_cap: int, *, delimiter, quote, flags, isolation):
    """One kernel call; returns (res, out) with ``out`` an array('I') of out_cap
    bytes (4-aligned, as the kernel requires). Grows ``out`` once on ENOSPC
    (the kernel says how much it needs)."""
    iso = isolation or default_isolation()
    d, q = _byte("delimiter", delimiter), _byte("quote", quote)
    while True:
        out_cap = (max(out_cap, 4) + 3) & ~3
        out = array("I", [0]) * (out_cap // 4)
        req = ffi.new("eh_offload_req *")
        res = ffi.new("eh_offload_res *")
        inbuf = ffi.from_buffer(data)
        outbuf = ffi.from_buffer(out)
        req.kernel, req.flags = kernel, flags
        req.arg[0], req.arg[1] = d, q
        setattr(req, "in", int(ffi.cast("uintptr_t", inbuf)))
        req.in_len = len(data)
        req.out = int(ffi.cast("uintptr_t", outbuf))
        req.out_cap = out_cap
        offload.run(req, res, iso)
        if res.status == -2 and res.out_len > out_cap:
            out_cap = res.out_len
            continue
        if res.status < 0:
            name = "csv" if kernel == KERNEL_INDEX else "csv-fields"
            kind = ERROR_KINDS.get(res.detail, STATUS_MESSAGES.get(res.status, "error"))
            off = res.err_offset if res.status == -3 else None
            raise CsvError(name, res.status, kind, off)
        return res, out


def _flags(strict: bool, rectangular: bool) -> int:
    return (F_STRICT if strict else 0) | (F_RECT if rectangular else 0)


@dataclass
class CsvIndex:
    """Field end offsets into ``data`` (see csv.h); nothing is copied."""

    data: bytes
    ends: array  # array('I'): the separator ending each field
    row_count: int

    def spans(self) -> list[list[tuple[int, int]]]:
        """Raw (start, end) byte range of every field, row by row (blank rows: [])."""
        data, n = self.data, len(self.data)
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


def csv_index(data: bytes, delimiter: str = ",", quote: str = '"', strict: bool = False,
              rectangular: bool = False, *, isolation: str | None = None) -> CsvIndex:
    """Structural index of ``data``: one end offset per field (EH_KERNEL_CSV_INDEX)."""
    data = data.encode() if isinstance(data, str) else bytes(data)
    res, ends = _run(KERNEL_INDEX, data, len(data) + 64, delimiter=delimiter,
                     quote=quote, flags=_flags(strict, rectangular), isolation=isolation)
    del ends[res.out_len // 4:]
    return CsvIndex(data, ends, res.value >> 32)


def csv_rows(data: bytes, delimiter: str = ",", quote: str = '"', strict: bool = False,
             rectangular: bool = False, *, isolation: str | None = None) -> list[list[bytes]]:
    """Unescaped field values, row by row (EH_KERNEL_CSV_FIELDS); blank lines are []."""
    data = data.encode() if isinstance(data, str) else bytes(data)
    res, out = _run(KERNEL_FIELDS, data, 2 * len(data) + 64,
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
