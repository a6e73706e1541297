"""The few edits of a WebAssembly binary that snapshots need, at the level of
sections: nothing inside a function body is decoded or changed.

* :func:`instrument`: export every defined mutable numeric global, so the
  host can read a configured instance's globals (an unexported global is out
  of reach of wasmtime's API).
* :func:`snapshot`: the module as it stands after its ``_initialize`` and
  ``edgehost_configure`` ran -- its data segments hold the configured memory,
  its mutable globals start at the configured values, its memory starts at
  the configured size, and the start section and the ``_initialize`` /
  ``edgehost_configure`` exports are gone (they already ran).

Why here and not a library: wasmtime-py only compiles; the Python
WebAssembly packages decode but do not encode; a text round trip through
WABT costs hundreds of milliseconds for a megabyte of data. The binary format
(https://webassembly.github.io/spec/core/binary/) makes these edits a matter
of re-encoding four sections.

Anything outside what these edits can carry over -- passive data segments,
more than one memory, a 64-bit or shared memory, a constant expression
beyond the MVP and extended-const forms -- raises :class:`Unsupported`, and
the caller keeps the unsnapshotted module.
"""

from __future__ import annotations

import dataclasses
import struct

MAGIC = b"\0asm\x01\0\0\0"
SNAPSHOT_GLOBAL_PREFIX = "__edgehost_snapshot_global_"
DROPPED_EXPORTS = ("_initialize", "edgehost_configure")
PAGE = 65536

# Section ids, and the order non-custom sections must appear in.
CUSTOM, TYPE, IMPORT, FUNCTION, TABLE, MEMORY, GLOBAL, EXPORT, START, ELEMENT, CODE, DATA, \
    DATACOUNT, TAG = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13

I32, I64, F32, F64 = 0x7F, 0x7E, 0x7D, 0x7C
NUMERIC = {I32: "i32", I64: "i64", F32: "f32", F64: "f64"}
KIND_GLOBAL = 0x03


class Unsupported(Exception):
    """The module uses a feature the snapshot edits cannot carry over."""


class Malformed(Exception):
    """The bytes are not a WebAssembly module this parser understands."""


# -- LEB128 ---------------------------------------------------------------------------------
def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


class Reader:
    """A cursor over bytes with the binary format's primitive decoders."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise Malformed("unexpected end")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Malformed("unexpected end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _leb(self, signed: bool) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if signed and b & 0x40:  # sign-extend from the last group's top bit
                    result -= 1 << shift
                return result
            if shift > 70:
                raise Malformed("LEB128 too long")

    def uleb(self) -> int:
        return self._leb(False)

    def sleb(self) -> int:
        return self._leb(True)

    def name(self) -> str:
        return self.take(self.uleb()).decode("utf-8", errors="replace")

    def done(self) -> bool:
        return self.pos >= self.end


# -- sections ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Section:
    id: int
    payload: bytes

    def encode(self) -> bytes:
        return bytes([self.id]) + uleb(len(self.payload)) + self.payload


def sections(wasm: bytes) -> list[Section]:
    if wasm[:8] != MAGIC:
        raise Malformed("not a WebAssembly 1.0 binary")
    r = Reader(wasm, 8)
    out = []
    while not r.done():
        sid = r.byte()
        size = r.uleb()
        out.append(Section(sid, r.take(size)))
    return out


def encode(secs: list[Section]) -> bytes:
    return MAGIC + b"".join(s.encode() for s in secs)


def _vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def _find(secs: list[Section], sid: int) -> Section | None:
    return next((s for s in secs if s.id == sid), None)


def _skip_limits(r: Reader) -> tuple[int, int, int | None]:
    flags = r.byte()
    if flags not in (0, 1):
        raise Unsupported(f"memory/table limits flags {flags:#x} (shared or 64-bit)")
    lo = r.uleb()
    hi = r.uleb() if flags == 1 else None
    return flags, lo, hi


def _skip_valtype(r: Reader) -> int:
    t = r.byte()
    if t in (0x63, 0x64):       # (ref null? ht): a heap type follows
        r.sleb()
    return t


@dataclasses.dataclass
class Imports:
    funcs: int = 0
    tables: int = 0
    memories: int = 0
    globals: int = 0


def imports(secs: list[Section]) -> Imports:
    out = Imports()
    sec = _find(secs, IMPORT)
    if sec is None:
        return out
    r = Reader(sec.payload)
    for _ in range(r.uleb()):
        r.name()
        r.name()
        kind = r.byte()
        if kind == 0x00:
            r.uleb()
            out.funcs += 1
        elif kind == 0x01:
            _skip_valtype(r)
            _skip_limits(r)
            out.tables += 1
        elif kind == 0x02:
            _skip_limits(r)
            out.memories += 1
        elif kind == 0x03:
            _skip_valtype(r)
            r.byte()
            out.globals += 1
        else:
            raise Unsupported(f"import kind {kind:#x}")
    return out


def memory_count(wasm: bytes) -> int:
    """Memories the module imports or defines."""
    secs = sections(wasm)
    n = imports(secs).memories
    sec = _find(secs, MEMORY)
    return n + (Reader(sec.payload).uleb() if sec is not None else 0)


# -- constant expressions -----------------------------------------------------------------
_NO_IMMEDIATE = {0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E}   # i32/i64 add, sub, mul


def _skip_const_expr(r: Reader) -> None:
    while True:
        op = r.byte()
        if op == 0x0B:
            return
        if op in (0x41, 0x42):
            r.sleb()
        elif op == 0x43:
            r.take(4)
        elif op == 0x44:
            r.take(8)
        elif op in (0x23, 0xD2):
            r.uleb()
        elif op == 0xD0:
            _skip_valtype(r)
        elif op in _NO_IMMEDIATE:
            pass
        else:
            raise Unsupported(f"constant expression opcode {op:#x}")


def const_expr(valtype: int, bits: int) -> bytes:
    """``<t>.const value; end`` for a numeric global's raw bits."""
    if valtype == I32:
        v = bits & 0xFFFFFFFF
        return b"\x41" + sleb(v - (1 << 32) if v & 0x80000000 else v) + b"\x0b"
    if valtype == I64:
        v = bits & 0xFFFFFFFFFFFFFFFF
        return b"\x42" + sleb(v - (1 << 64) if v & (1 << 63) else v) + b"\x0b"
    if valtype == F32:
        return b"\x43" + struct.pack("<I", bits & 0xFFFFFFFF) + b"\x0b"
    if valtype == F64:
        return b"\x44" + struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF) + b"\x0b"
    raise Unsupported(f"global of type {valtype:#x}")


# -- globals ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Global:
    index: int          # in the module's global index space (imports first)
    valtype: int
    mutable: bool
    init: bytes         # the encoded constant expression, end included


def globals_of(secs: list[Section]) -> list[Global]:
    sec = _find(secs, GLOBAL)
    if sec is None:
        return []
    base = imports(secs).globals
    r = Reader(sec.payload)
    out = []
    for i in range(r.uleb()):
        t = _skip_valtype(r)
        mut = r.byte()
        start = r.pos
        _skip_const_expr(r)
        out.append(Global(base + i, t, mut == 1, bytes(r.data[start:r.pos])))
    return out


def snapshot_globals(wasm: bytes) -> list[Global]:
    """The globals :func:`instrument` exports (defined, mutable); refuses a
    mutable global whose value cannot be carried over (not a number)."""
    out = []
    for g in globals_of(sections(wasm)):
        if not g.mutable:
            continue
        if g.valtype not in NUMERIC:
            raise Unsupported(f"mutable global {g.index} of type {g.valtype:#x}")
        out.append(g)
    return out


def global_export_name(index: int) -> str:
    return f"{SNAPSHOT_GLOBAL_PREFIX}{index}"


# -- exports ---------------------------------------------------------------------------------
def _exports(sec: Section) -> list[tuple[str, int, int]]:
    r = Reader(sec.payload)
    out = []
    for _ in range(r.uleb()):
        name = r.name()
        kind = r.byte()
        out.append((name, kind, r.uleb()))
    return out


def _encode_exports(entries: list[tuple[str, int, int]]) -> bytes:
    return _vec([uleb(len(n.encode())) + n.encode() + bytes([k]) + uleb(i)
                 for n, k, i in entries])


def instrument(wasm: bytes) -> bytes:
    """``wasm`` plus an export of every defined mutable numeric global (named
    by :func:`global_export_name`); otherwise the same module."""
    secs = sections(wasm)
    exp = _find(secs, EXPORT)
    if exp is None:
        raise Unsupported("no export section")
    entries = _exports(exp)
    taken = {n for n, _, _ in entries}
    for g in snapshot_globals(wasm):
        name = global_export_name(g.index)
        if name not in taken:
            entries.append((name, KIND_GLOBAL, g.index))
    exp.payload = _encode_exports(entries)
    return encode(secs)


# -- the snapshot --------------------------------------------------------------------------------
def memory_segments(memory: bytes, *, granule: int = 4096, gap: int = 1) -> list[tuple[int, bytes]]:
    """(offset, bytes) runs covering every non-zero byte of ``memory``:
    ``granule``-sized blocks that hold a non-zero byte, merged across at most
    ``gap`` all-zero blocks, each run trimmed of its leading/trailing zeros."""
    zero = bytes(granule)
    runs: list[list[int]] = []
    for off in range(0, len(memory), granule):
        if memory[off:off + granule] == zero[:min(granule, len(memory) - off)]:
            continue
        end = min(off + granule, len(memory))
        if runs and off - runs[-1][1] <= gap * granule:
            runs[-1][1] = end
        else:
            runs.append([off, end])
    out = []
    for lo, hi in runs:
        chunk = memory[lo:hi]
        lead = len(chunk) - len(chunk.lstrip(b"\0"))
        body = chunk.strip(b"\0")
        out.append((lo + lead, body))
    return out


def snapshot(wasm: bytes, memory: bytes, global_bits: dict[int, int]) -> bytes:
    """The module ``wasm`` whose instances start in the state given by
    ``memory`` (the whole linear memory) and ``global_bits`` (raw bits of every
    mutable global, by index): see the module docstring."""
    secs = sections(wasm)
    imp = imports(secs)
    if imp.memories:
        raise Unsupported("imported memory")
    if len(memory) % PAGE:
        raise Malformed("memory is not a whole number of pages")
    out: list[Section] = []
    for sec in secs:
        if sec.id == START:
            continue                                  # it already ran
        if sec.id == MEMORY:
            sec = Section(MEMORY, _memory_section(sec, len(memory) // PAGE))
        elif sec.id == GLOBAL:
            sec = Section(GLOBAL, _global_section(secs, global_bits))
        elif sec.id == EXPORT:
            sec = Section(EXPORT, _encode_exports(
                [e for e in _exports(sec) if e[0] not in DROPPED_EXPORTS
                 and not e[0].startswith(SNAPSHOT_GLOBAL_PREFIX)]))
        elif sec.id == DATA:
            _check_data(sec)
            continue                                  # replaced below
        elif sec.id == DATACOUNT:
            continue                                  # rewritten below
        out.append(sec)
    segs = memory_segments(memory)
    data = Section(DATA, _vec([b"\x00\x41" + sleb(off if off < 1 << 31 else off - (1 << 32))
                               + b"\x0b" + uleb(len(body)) + body for off, body in segs]))
    if _find(secs, DATACOUNT) is not None:
        _insert_before(out, Section(DATACOUNT, uleb(len(segs))), CODE)
    _insert_after_last(out, data, (CODE, DATACOUNT, ELEMENT, START, EXPORT, GLOBAL))
    if _find(secs, MEMORY) is None:
        raise Unsupported("the module defines no memory")
    return encode(out)


def _memory_section(sec: Section, pages: int) -> bytes:
    r = Reader(sec.payload)
    n = r.uleb()
    if n != 1:
        raise Unsupported(f"{n} memories")
    flags, lo, hi = _skip_limits(r)
    if hi is not None and pages > hi:
        raise Malformed(f"configured memory ({pages} pages) is above its maximum ({hi})")
    return uleb(1) + bytes([flags]) + uleb(max(lo, pages)) + (uleb(hi) if hi is not None else b"")


def _global_section(secs: list[Section], bits: dict[int, int]) -> bytes:
    items = []
    for g in globals_of(secs):
        init = g.init
        if g.mutable:
            if g.index not in bits:
                raise Malformed(f"no value for mutable global {g.index}")
            init = const_expr(g.valtype, bits[g.index])
        items.append(bytes([g.valtype, 1 if g.mutable else 0]) + init)
    return _vec(items)


def _check_data(sec: Section) -> None:
    r = Reader(sec.payload)
    for _ in range(r.uleb()):
        flags = r.uleb()
        if flags == 1:
            raise Unsupported("passive data segments (memory.init)")
        if flags == 2:
            if r.uleb() != 0:
                raise Unsupported("data for a second memory")
        elif flags != 0:
            raise Unsupported(f"data segment flags {flags}")
        _skip_const_expr(r)
        r.take(r.uleb())


_ORDER = [TYPE, IMPORT, FUNCTION, TABLE, MEMORY, TAG, GLOBAL, EXPORT, START, ELEMENT, DATACOUNT,
          CODE, DATA]


def _insert_before(out: list[Section], sec: Section, before: int) -> None:
    for i, s in enumerate(out):
        if s.id != CUSTOM and _ORDER.index(s.id) >= _ORDER.index(before):
            out.insert(i, sec)
            return
    out.append(sec)


def _insert_after_last(out: list[Section], sec: Section, after: tuple[int, ...]) -> None:
    last = max((i for i, s in enumerate(out) if s.id in after), default=-1)
    out.insert(last + 1, sec)
