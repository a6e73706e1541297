"""Write tracking: rewrite a module so that every write to its linear memory
marks the 4 KiB pages it touches in a map the host can read -- the one edit
of this package that goes inside function bodies.

What it is for: ``instance = "fresh"`` promises each request an instance in
the state a new one starts in. Making a new wasmtime instance costs what the
kernel charges for page faults and ``madvise`` (~26 us for a 64 B request
here, against ~2 us on a reused instance). With this rewrite a used instance
is instead put back in place: the host copies back, from the snapshot's
memory image, only the pages the request wrote, and resets the mutable
globals (native_modules/wasmhost/fresh.c).

The rewritten module has a second memory, the *dirty map*: one byte per
4 KiB page of memory 0, and one more (2^20 + 1 bytes, rounded up to wasm
pages: every 32-bit address has its byte and the next, so marking never
traps), exported as :data:`DIRTY_EXPORT`. The tenant's own code cannot name
it -- the original module had one memory, and its code only uses memory 0 --
so it cannot clear its own marks. Each store of more than one byte becomes::

    local.set $value ; local.tee $addr
    i32.const offset ; i32.add ; i32.const 12 ; i32.shr_u ; local.set $page
    (if (i32.ne (i32.load16_u map (local.get $page)) (i32.const 0x0101))
      (then (i32.store16 map (local.get $page) (i32.const 0x0101))))
    local.get $addr ; local.get $value ; <the store>

A store writes at most 16 bytes, so its last byte lies in page p or p + 1:
one 16-bit mark covers both (a store inside one page also marks the next
one, which the host then restores without need), and is stored only when
not there yet (see :func:`_mark_once`). A one-byte store marks p alone.

and ``memory.fill`` / ``memory.copy`` / ``memory.init`` call an added
function that marks every page of their destination range first. Writes the
host makes into the memory (the request body, kv reads, kernel results) are
marked by the host. ``memory.grow`` is not tracked: the host puts an instance
back only when its memory has the image's size.

Refused (:class:`~.wasm_binary.Unsupported`; the tenant then gets a new
instance per request, as before): an imported memory or more than one, table
writes (``table.set`` / ``grow`` / ``fill`` / ``copy`` / ``init``,
``elem.drop``: a table is state the host does not reset), atomics, exception
handling and GC instructions, and type-section forms beyond plain function
types.
"""

from __future__ import annotations

from edgehost.native import lib
from edgehost.reload import wasm_binary as wb
from edgehost.reload.wasm_binary import Reader, Section, Unsupported, sleb, uleb

DIRTY_EXPORT = "__edgehost_dirty"
PAGE_SHIFT = lib.EH_DIRTY_PAGE_SHIFT          # declared in wasmhost/ffi.h
# One byte per page of 4 GiB, and one past it for a 16-bit mark of the last page.
DIRTY_MAP_PAGES = (1 << (32 - PAGE_SHIFT)) // wb.PAGE + 1
V128 = 0x7B

# store opcode -> (bytes written, value type)
_STORES = {0x36: (4, wb.I32), 0x37: (8, wb.I64), 0x38: (4, wb.F32), 0x39: (8, wb.F64),
           0x3A: (1, wb.I32), 0x3B: (2, wb.I32), 0x3C: (1, wb.I64), 0x3D: (2, wb.I64),
           0x3E: (4, wb.I64)}
# SIMD (0xFD) sub-opcodes that store: v128.store, v128.storeN_lane
_SIMD_STORES = {11: 16, 88: 1, 89: 2, 90: 4, 91: 8}
_SINGLE_BYTE_TYPES = {0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}
_TABLE_WRITES = {12: "table.init", 13: "elem.drop", 14: "table.copy", 15: "table.grow",
                 17: "table.fill"}
_BULK_WRITES = {8, 10, 11}                    # memory.init, memory.copy, memory.fill

# i32.store8 into memory 1 at offset 0 (memarg: align 0 with the memory-index
# flag 0x40, memory 1, offset 0), and the mark of one page: [index] -> []
_STORE8_MAP = b"\x3a\x40\x01\x00"
_MARK = b"\x41\x01" + _STORE8_MAP             # i32.const 1 ; i32.store8 map
_LOAD8_MAP = b"\x2d\x40\x01\x00"             # i32.load8_u map
_STORE16_MAP = b"\x3b\x40\x01\x00"
_LOAD16_MAP = b"\x2f\x40\x01\x00"            # i32.load16_u map
_TWO_MARKS = b"\x41\x81\x02"                  # i32.const 0x0101


def _mark_once(page: int, both: bool) -> bytes:
    """[] -> []: marks page (local ``page``), and the next one when ``both``,
    unless they are marked already. Testing first is the cheaper: a store to
    the map byte the previous store marked costs the core far more than a
    load and a predicted branch (a loop of 8-byte stores over 16 KiB on the
    Zen 3: 4.9 GB/s always storing the mark, 8.4 testing first, 24
    untracked)."""
    if both:
        return (_get(page) + _LOAD16_MAP + _TWO_MARKS + b"\x47\x04\x40"   # if != 0x0101
                + _get(page) + _TWO_MARKS + _STORE16_MAP + b"\x0b")
    return (_get(page) + _LOAD8_MAP + b"\x45\x04\x40"                    # if == 0
            + _get(page) + _MARK + b"\x0b")


def _i32_const(v: int) -> bytes:
    v &= 0xFFFFFFFF
    return b"\x41" + sleb(v - (1 << 32) if v & 0x80000000 else v)


def _get(i: int) -> bytes:
    return b"\x20" + uleb(i)


def _set(i: int) -> bytes:
    return b"\x21" + uleb(i)


def _tee(i: int) -> bytes:
    return b"\x22" + uleb(i)


_SHIFT = _i32_const(PAGE_SHIFT) + b"\x76"     # i32.shr_u


def _mark_range_body() -> bytes:
    """(dst i32, len i32) -> (): marks pages dst>>12 ..= (dst+len-1)>>12
    (all of them to the map's end when dst+len wraps; the write traps then)."""
    p, e = 2, 3
    code = (_get(1) + b"\x45\x04\x40\x0f\x0b"                        # if len == 0: return
            + _get(0) + _SHIFT + _set(p)
            + _get(0) + _get(1) + b"\x6a" + _i32_const(1) + b"\x6b" + _SHIFT + _set(e)
            + _get(e) + _get(p) + b"\x49\x04\x40"                      # if e < p (wrapped):
            + _i32_const((1 << (32 - PAGE_SHIFT)) - 1) + _set(e) + b"\x0b"
            + b"\x03\x40"                                             # loop
            + _get(p) + _MARK
            + _get(p) + _i32_const(1) + b"\x6a" + _tee(p)
            + _get(e) + b"\x4d\x0d\x00"                               # br_if p <= e
            + b"\x0b\x0b")
    body = uleb(1) + uleb(2) + bytes([wb.I32]) + code
    return uleb(len(body)) + body


class _Temps:
    """The locals a rewritten body adds after its own: addr, x, len, page
    (i32; x also holds a stored i32) and one per other stored value type."""

    def __init__(self, first: int):
        self.addr, self.x, self.len, self.page = first, first + 1, first + 2, first + 3
        self.value = {wb.I32: self.x, wb.I64: first + 4, wb.F32: first + 5,
                      wb.F64: first + 6, V128: first + 7}

    GROUPS = 5

    @staticmethod
    def decl() -> bytes:
        """The local groups to append: 4 x i32, then i64, f32, f64, v128."""
        return (uleb(4) + bytes([wb.I32]) + uleb(1) + bytes([wb.I64]) + uleb(1)
                + bytes([wb.F32]) + uleb(1) + bytes([wb.F64]) + uleb(1) + bytes([V128]))


def _store_prefix(t: _Temps, vtype: int, offset: int, size: int) -> bytes:
    out = _set(t.value[vtype]) + _tee(t.addr)
    if offset:
        out += _i32_const(offset) + b"\x6a"
    return (out + _SHIFT + _set(t.page) + _mark_once(t.page, size > 1)
            + _get(t.addr) + _get(t.value[vtype]))


def _bulk_prefix(t: _Temps, mark_fn: int) -> bytes:
    return (_set(t.len) + _set(t.x) + _tee(t.addr) + _get(t.len) + b"\x10" + uleb(mark_fn)
            + _get(t.addr) + _get(t.x) + _get(t.len))


def _memarg(r: Reader) -> int:
    """Reads a memarg; returns its offset. Only memory 0 exists to write."""
    flags = r.uleb()
    if flags & 0x40 and r.uleb() != 0:
        raise Unsupported("an access to a second memory")
    return r.uleb()


def _blocktype(r: Reader) -> None:
    b = r.data[r.pos] if r.pos < r.end else -1
    if b == 0x40 or b in _SINGLE_BYTE_TYPES:
        r.pos += 1
    elif b in (0x63, 0x64):
        r.pos += 1
        r.sleb()
    else:
        r.sleb()


def _rewrite_code(r: Reader, t: _Temps, mark_fn: int) -> bytes:
    """The instructions from r.pos to r.end, each write prefixed by its mark."""
    out = bytearray()
    while not r.done():
        start = r.pos
        op = r.byte()
        prefix = b""
        if op in _STORES:
            size, vtype = _STORES[op]
            prefix = _store_prefix(t, vtype, _memarg(r), size)
        elif 0x28 <= op <= 0x35:
            _memarg(r)
        elif op in (0x02, 0x03, 0x04):
            _blocktype(r)
        elif op in (0x0C, 0x0D, 0x10, 0x12, 0x14, 0x15, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
                    0xD2, 0xD5, 0xD6):
            r.uleb()
        elif op == 0x26:
            raise Unsupported("table.set")
        elif op == 0x0E:
            for _ in range(r.uleb() + 1):
                r.uleb()
        elif op in (0x11, 0x13):
            r.uleb()
            r.uleb()
        elif op == 0x1C:
            for _ in range(r.uleb()):
                wb._skip_valtype(r)
        elif op in (0x3F, 0x40):
            if r.uleb() != 0:
                raise Unsupported("memory.size/grow of a second memory")
        elif op in (0x41, 0x42):
            r.sleb()
        elif op == 0x43:
            r.take(4)
        elif op == 0x44:
            r.take(8)
        elif op == 0xD0:
            r.sleb()
        elif op == 0xFC:
            sub = r.uleb()
            if sub in _TABLE_WRITES:
                raise Unsupported(_TABLE_WRITES[sub])
            if sub in _BULK_WRITES:
                prefix = _bulk_prefix(t, mark_fn)
                if sub == 8:
                    r.uleb()
                    r.uleb()
                elif sub == 10:
                    if r.uleb() != 0 or r.uleb() != 0:
                        raise Unsupported("memory.copy between memories")
                elif r.uleb() != 0:
                    raise Unsupported("memory.fill of a second memory")
            elif sub in (9, 13, 15, 16, 17):
                r.uleb()
            elif sub > 17:
                raise Unsupported(f"instruction 0xfc {sub}")
        elif op == 0xFD:
            sub = r.uleb()
            if sub in _SIMD_STORES:
                prefix = _store_prefix(t, V128, _memarg(r), _SIMD_STORES[sub])
                if sub != 11:
                    r.byte()                  # lane
            elif sub <= 10 or sub in (92, 93):
                _memarg(r)
            elif 84 <= sub <= 87:
                _memarg(r)
                r.byte()
            elif sub in (12, 13):
                r.take(16)
            elif 21 <= sub <= 34:
                r.byte()
            elif sub > 0x113:
                raise Unsupported(f"instruction 0xfd {sub}")
        elif op in (0x06, 0x07, 0x08, 0x09, 0x0A, 0x18, 0x19, 0x1F, 0xFB, 0xFE):
            raise Unsupported(f"instruction {op:#x} (exceptions, GC or atomics)")
        elif op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4) \
                or 0x45 <= op <= 0xC4:
            pass
        else:
            raise Unsupported(f"instruction {op:#x}")
        out += prefix
        out += r.data[start:r.pos]
    return bytes(out)


def _param_counts(secs: list[Section]) -> list[int]:
    """Parameters of each function type, by type index."""
    sec = wb._find(secs, wb.TYPE)
    if sec is None:
        return []
    r = Reader(sec.payload)
    out = []
    for _ in range(r.uleb()):
        if r.byte() != 0x60:
            raise Unsupported("a type that is not a plain function type")
        n = r.uleb()
        for _ in range(n):
            wb._skip_valtype(r)
        for _ in range(r.uleb()):
            wb._skip_valtype(r)
        out.append(n)
    return out


def _rewrite_body(body: bytes, nparams: int, mark_fn: int) -> bytes:
    r = Reader(body)
    groups = []
    nlocals = nparams
    for _ in range(r.uleb()):
        count = r.uleb()
        start = r.pos
        wb._skip_valtype(r)
        groups.append(uleb(count) + body[start:r.pos])
        nlocals += count
    t = _Temps(nlocals)
    decl = uleb(len(groups) + _Temps.GROUPS) + b"".join(groups) + _Temps.decl()
    code = _rewrite_code(r, t, mark_fn)
    out = decl + code
    return uleb(len(out)) + out


def track_writes(wasm: bytes) -> bytes:
    """``wasm`` rewritten as the module docstring says, with its mutable
    globals exported (:func:`~.wasm_binary.instrument`) so the host can reset
    them. Raises Unsupported / Malformed."""
    secs = wb.sections(wb.instrument(wasm))
    imp = wb.imports(secs)
    mem = wb._find(secs, wb.MEMORY)
    if imp.memories or mem is None:
        raise Unsupported("the module must define its one memory")
    r = Reader(mem.payload)
    if r.uleb() != 1:
        raise Unsupported("more than one memory")
    wb._skip_limits(r)
    params = _param_counts(secs)
    fsec, csec = wb._find(secs, wb.FUNCTION), wb._find(secs, wb.CODE)
    if fsec is None or csec is None:
        raise Unsupported("no functions")
    fr = Reader(fsec.payload)
    ftypes = [fr.uleb() for _ in range(fr.uleb())]
    mark_fn = imp.funcs + len(ftypes)
    mark_type = len(params)

    cr = Reader(csec.payload)
    if cr.uleb() != len(ftypes):
        raise wb.Malformed("function and code sections disagree")
    bodies = []
    for ti in ftypes:
        size = cr.uleb()
        bodies.append(_rewrite_body(cr.take(size), params[ti], mark_fn))
    bodies.append(_mark_range_body())

    tsec = wb._find(secs, wb.TYPE)
    tr = Reader(tsec.payload)
    tr.uleb()
    tsec.payload = uleb(mark_type + 1) + tsec.payload[tr.pos:] + b"\x60\x02\x7f\x7f\x00"
    fsec.payload = uleb(len(ftypes) + 1) + b"".join(uleb(x) for x in ftypes) + uleb(mark_type)
    csec.payload = uleb(len(bodies)) + b"".join(bodies)
    mem.payload = (uleb(2) + mem.payload[len(uleb(1)):]
                   + b"\x01" + uleb(DIRTY_MAP_PAGES) + uleb(DIRTY_MAP_PAGES))
    exp = wb._find(secs, wb.EXPORT)
    entries = wb._exports(exp)
    if any(n == DIRTY_EXPORT for n, _, _ in entries):
        raise Unsupported(f"the module exports {DIRTY_EXPORT} itself")
    exp.payload = wb._encode_exports(entries + [(DIRTY_EXPORT, 0x02, 1)])
    # Code metadata (branch hints) names instructions by their offsets in the
    # bodies, which the marks moved: it goes (it is only a hint).
    secs = [s for s in secs if s.id != wb.CUSTOM
            or not Reader(s.payload).name().startswith("metadata.code.")]
    return wb.encode(secs)
