"""Shared plumbing for the kernel wrappers: building a request, running it
under an isolation policy, turning a status into a KernelError, and the
float32 buffer rules the vector kernels share (see kernels/vector/vector.h)."""

from __future__ import annotations

import struct

from edgehost.errors import InputError, KernelError
from edgehost.isolation import offload
from edgehost.native import ffi

STATUS_MESSAGES = {
    -1: "invalid arguments",
    -2: "output buffer too small",
    -3: "malformed input",
    -4: "not supported",
    -5: "nesting too deep",
    -6: "not found",
}


def default_isolation() -> str:
    """``kvm`` where /dev/kvm works, else ``inproc`` (and the log says so)."""
    from edgehost import isolation

    return isolation.default()


def nbytes(data) -> int:
    """Byte length of any buffer (bytes, bytearray, memoryview, array, ndarray)."""
    return memoryview(data).nbytes


_REQ_T = ffi.typeof("eh_offload_req *")
_RES_T = ffi.typeof("eh_offload_res *")
_OUT_T = ffi.typeof("uint8_t[]")


def call(kernel_name: str, kernel_id: int, *, isolation: str | None = None,
         data=b"", data2=b"", out_cap: int = 0,
         args: tuple[int, ...] = (), flags: int = 0, out_buf=None):
    """Run one kernel; return ``(res, out_bytes)``. Raises KernelError on status < 0.

    ``data``/``data2`` may be any C-contiguous buffer; they are passed without copying.
    ``out_buf`` (a writable buffer) receives the output in place of a fresh
    ``out_cap``-byte one; then ``out_bytes`` is None and ``res.out_len`` says
    how much of ``out_buf`` was written.
    """
    from edgehost.native import lib

    iso = isolation or default_isolation()
    req = ffi.new(_REQ_T)
    res = ffi.new(_RES_T)
    for i, a in enumerate(args):
        req.arg[i] = a
    if out_buf is not None:
        out = ffi.from_buffer(out_buf, require_writable=True)
        out_cap = nbytes(out_buf)
    else:
        out = ffi.new(_OUT_T, out_cap) if out_cap else ffi.NULL
    n1 = len(data) if type(data) is bytes else nbytes(data)
    n2 = len(data2) if type(data2) is bytes else nbytes(data2)
    # The cdata views pin the buffers (and their exports) until the call returns.
    b1, b2 = ffi.from_buffer(data), ffi.from_buffer(data2)
    lib.eh_req_fill(req, kernel_id, flags, b1, n1, b2, n2, out, out_cap)
    offload.run(req, res, iso)
    if res.status < 0:
        off = res.err_offset if res.status == -3 else None
        raise KernelError(kernel_name, res.status,
                          STATUS_MESSAGES.get(res.status, f"status {res.status}"), offset=off,
                          detail=res.detail or None)
    if out_buf is not None:
        return res, None
    if not out_cap:
        return res, b""
    return res, ffi.buffer(out, min(res.out_len, out_cap))[:]


# --- float32 / float64 helpers ----------------------------------------------

FLOAT_TYPES = {"float32": ("f", 4), "float64": ("d", 8)}


def float_dtype(data, dtype: str | None) -> str:
    """``dtype`` if given, else what a typed buffer says ('d' -> float64), else float32."""
    if dtype is not None:
        if dtype not in FLOAT_TYPES:
            raise InputError(f"dtype must be one of {sorted(FLOAT_TYPES)}, not {dtype!r}")
        return dtype
    fmt = memoryview(data).format.lstrip("<=@")
    return "float64" if fmt == "d" else "float32"


def float_buffer(data, what: str = "vector", dtype: str = "float32"):
    """``data`` as a read-only byte view of ``dtype`` values, aligned to their size.

    Accepts bytes-like objects, ``array``s and ndarrays of that type; copies
    only when the buffer is misaligned. A length that is not a whole number of
    values, or a typed buffer of another item type, is an InputError.
    """
    code, size = FLOAT_TYPES[dtype]
    mv = memoryview(data)
    if not mv.c_contiguous:
        raise InputError(f"{what}: buffer must be contiguous")
    if mv.format.lstrip("<=@") not in ("B", "b", "c", code) and mv.itemsize != 1:
        raise InputError(f"{what}: expected {dtype} data, got items of type {mv.format!r}")
    if mv.ndim != 1 or mv.format != "B":
        try:
            mv = mv.cast("B")
        except TypeError:  # a non-native format spelling such as '<f'
            mv = memoryview(mv.tobytes())
    if mv.nbytes % size:
        raise InputError(f"{what}: {mv.nbytes} bytes is not a whole number of {dtype} values")
    if int(ffi.cast("uintptr_t", ffi.from_buffer(mv))) % size:
        return bytes(mv)
    return mv


def f32_buffer(data, what: str = "vector"):
    return float_buffer(data, what, "float32")


def f32_bits(x: float) -> int:
    """The IEEE binary32 bit pattern of ``x`` (rounded to float32)."""
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def f32_str(x: float) -> str:
    """Shortest decimal that reads back as the same float32 (like numpy's repr)."""
    if x != x or x in (float("inf"), float("-inf")):
        return repr(x)
    bits = f32_bits(x)
    for digits in range(1, 10):
        s = f"{x:.{digits}g}"
        if f32_bits(float(s)) == bits:
            return repr(float(s))
    return f"{x:.9g}"


# --- variants (kernels/dispatch.h) -----------------------------------------

def variants(family: str) -> list[tuple[str, bool]]:
    """[(variant, runnable on this CPU)] of a kernel family, generic first."""
    from edgehost.native import kernels_lib

    lib = kernels_lib()
    name_of = getattr(lib, f"eh_{family}_variant_name")
    ok_of = getattr(lib, f"eh_{family}_variant_ok")
    out, i = [], 0
    while (name := name_of(i)) != ffi.NULL:
        out.append((ffi.string(name).decode(), bool(ok_of(i))))
        i += 1
    return out


def active_variant(family: str) -> str:
    from edgehost.native import kernels_lib

    return ffi.string(getattr(kernels_lib(), f"eh_{family}_variant")()).decode()


class use_variant:  # noqa: N801  (used as a context manager, like a function)
    """Pin ``family`` to ``variant`` in this process for a ``with`` block.

    Process-wide: meant for tests and benchmarks, not for concurrent callers.
    Raises ValueError when the variant is unknown or this CPU cannot run it.
    """

    def __init__(self, family: str, variant: str):
        self.family, self.variant = family, variant

    def __enter__(self):
        from edgehost.native import kernels_lib

        self._set = getattr(kernels_lib(), f"eh_{self.family}_set_variant")
        self._prev = active_variant(self.family)
        if self._set(self.variant.encode()) != 0:
            raise ValueError(f"{self.family}: variant {self.variant!r} unknown or not "
                             f"supported by this CPU")
        return self

    def __exit__(self, *exc):
        self._set(self._prev.encode())
        return False
