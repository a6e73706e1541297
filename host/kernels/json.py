"""JSON kernels (RFC 8259): validate, minify, JSON Pointer (RFC 6901).

Python API and ``edgehost kernel json-validate|json-minify|json-pointer``.
The kernels validate the whole document (UTF-8, escapes, surrogates, control
characters, numbers, grammar, depth) before any operation; see
``native_modules/kernels/json/json.h``. A number found by a pointer comes
back exact (int64/uint64) or correctly rounded (double) from the kernel; the
rare double it cannot decide, and bigints, are converted here from the text.
Documents are str (encoded as UTF-8) or any C-contiguous bytes-like buffer,
read in place; ``max_depth`` is 1..MAX_DEPTH (else InputError).
"""

from __future__ import annotations

import json as _stdjson
import struct
from dataclasses import dataclass

from edgehost.errors import InputError, KernelError
from edgehost.isolation import resolve as resolve_isolation
from edgehost.kernels._common import STATUS_MESSAGES, nbytes, run_request
from edgehost.native import kernels_lib
from edgehost.wasm_config import abi

KERNEL_VALIDATE = abi.Kernel.JSON_VALIDATE
KERNEL_MINIFY = abi.Kernel.JSON_MINIFY
KERNEL_POINTER = abi.Kernel.JSON_POINTER
F_TAPE = abi.JSON["F_TAPE"]
DEFAULT_DEPTH = int(kernels_lib().EH_JSON_DEFAULT_DEPTH)
MAX_DEPTH = int(kernels_lib().EH_JSON_MAX_DEPTH)  # deepest limit the kernel accepts

ERROR_KINDS = abi.JSON_ERRORS
TYPES = abi.JSON_TYPES


class JsonError(KernelError):
    """Invalid JSON (or pointer); ``kind`` names the error, ``offset`` is the byte."""

    def __init__(self, kernel: str, code: int, kind: str, offset: int | None):
        self.kind = kind
        super().__init__(kernel, code, kind, offset=offset)


class JsonNotFound(KernelError):
    """The pointer names no value in the document."""

    def __init__(self, pointer: str):
        self.pointer = pointer
        super().__init__("json-pointer", -6, f"no value at {pointer!r}")


def _as_buffer(data):
    """str is encoded as UTF-8; any other C-contiguous buffer is used in place."""
    return data.encode() if isinstance(data, str) else data


def check_depth(max_depth) -> None:
    """InputError unless 1 <= max_depth <= MAX_DEPTH (an int)."""
    if not isinstance(max_depth, int) or isinstance(max_depth, bool) or \
            not 1 <= max_depth <= MAX_DEPTH:
        raise InputError(f"max_depth must be an integer from 1 to {MAX_DEPTH}, "
                         f"not {max_depth!r}")


def scratch_size(n: int, max_depth: int = DEFAULT_DEPTH) -> int:
    """Bytes of ``out`` a kernel needs to validate an n-byte document."""
    return int(kernels_lib().eh_json_scratch_size(n, max_depth))


def _run(kernel: int, name: str, data, *, pointer: bytes = b"", out_cap: int = 0,
         flags: int = 0, max_depth: int = DEFAULT_DEPTH, isolation: str | None = None):
    """One kernel call; returns (res, out). Grows ``out`` once on ENOSPC.
    ``data`` is read in place."""
    check_depth(max_depth)
    iso = resolve_isolation(isolation)
    out_cap = max(out_cap, scratch_size(nbytes(data), max_depth))
    while True:
        out = bytearray(out_cap)
        res = run_request(name, kernel, iso, data=data, data2=pointer, out=out,
                          args=(max_depth,), flags=flags)
        if res.status == abi.KStatus.ENOSPC and res.out_len > out_cap:
            out_cap = res.out_len
            continue
        if res.status == abi.KStatus.ENOTFOUND:
            raise JsonNotFound(pointer.decode("utf-8", "replace"))
        if res.status < 0:
            kind = ERROR_KINDS.get(res.detail, STATUS_MESSAGES.get(res.status, "error"))
            off = res.err_offset if res.status in (abi.KStatus.EPARSE, abi.KStatus.EDEPTH) \
                or res.detail == abi.JsonError.BAD_POINTER else None
            raise JsonError(name, res.status, kind, off)
        return res, out


def json_validate(data, *, max_depth: int = DEFAULT_DEPTH,
                  isolation: str | None = None) -> int:
    """Validate ``data``; returns the number of structural tokens, raises JsonError."""
    res, _ = _run(KERNEL_VALIDATE, "json-validate", _as_buffer(data), max_depth=max_depth,
                  isolation=isolation)
    return int(res.value)


def json_check(data, *, max_depth: int = DEFAULT_DEPTH,
               isolation: str | None = None) -> tuple[str, int] | None:
    """None when ``data`` is valid JSON, else (error kind, byte offset)."""
    try:
        json_validate(data, max_depth=max_depth, isolation=isolation)
    except JsonError as exc:
        return exc.kind, exc.offset if exc.offset is not None else -1
    return None


def json_minify(data, *, max_depth: int = DEFAULT_DEPTH,
                isolation: str | None = None) -> bytes:
    """``data`` without whitespace outside strings (validated first)."""
    data = _as_buffer(data)
    res, out = _run(KERNEL_MINIFY, "json-minify", data, out_cap=nbytes(data),
                    max_depth=max_depth, isolation=isolation)
    return bytes(out[: res.out_len])


def json_tape(data, *, max_depth: int = DEFAULT_DEPTH,
              isolation: str | None = None) -> list[tuple[int, int]]:
    """The document's tape (see json.h): (byte offset, link) per value, key and
    closing bracket; link = matching bracket's entry for containers, else 0."""
    data = _as_buffer(data)
    res, out = _run(KERNEL_VALIDATE, "json-validate", data, flags=F_TAPE,
                    out_cap=scratch_size(nbytes(data), max_depth) + 2 * nbytes(data) + 64,
                    max_depth=max_depth, isolation=isolation)
    words = memoryview(out)[: res.out_len].cast("I")
    return list(zip(words[0::2], words[1::2], strict=True))


@dataclass
class JsonValue:
    """A value found by a pointer: its JSON text, type and offset in the document."""

    text: bytes
    type: str
    offset: int
    integer: int | None = None  # exact value for int64/uint64
    double: float | None = None  # the kernel's correctly rounded double

    def value(self):
        """The Python value: exact ints, correctly rounded floats, parsed containers."""
        if self.integer is not None:
            return self.integer
        if self.double is not None:
            return self.double
        if self.type == "bigint":
            return int(self.text)
        if self.type == "double-text":  # the kernel left this rare case to an exact routine
            return float(self.text)
        return _stdjson.loads(self.text)


def json_pointer(data, pointer: str | bytes, *, max_depth: int = DEFAULT_DEPTH,
                 isolation: str | None = None) -> JsonValue:
    """The value at the RFC 6901 ``pointer``; raises JsonNotFound / JsonError."""
    ptr = pointer.encode() if isinstance(pointer, str) else bytes(pointer)
    data = _as_buffer(data)
    res, out = _run(KERNEL_POINTER, "json-pointer", data, pointer=ptr,
                    out_cap=scratch_size(nbytes(data), max_depth) + 2 * nbytes(data) + 64,
                    max_depth=max_depth, isolation=isolation)
    kind = TYPES.get(res.detail, "unknown")
    integer = double = None
    if kind == "int64":
        integer = res.value - (1 << 64) if res.value >= 1 << 63 else res.value
    elif kind == "uint64":
        integer = res.value
    elif kind == "double":
        double = struct.unpack("<d", struct.pack("<Q", res.value))[0]
    return JsonValue(bytes(out[: res.out_len]), kind, int(res.err_offset), integer, double)


__all__ = ["json_validate", "json_check", "json_minify", "json_pointer", "json_tape", "JsonValue",
           "JsonError", "JsonNotFound"]
