"""Shared plumbing for the kernel wrappers: deciding isolation, running one
request (in process through :mod:`._fast`, in a KVM guest through
:mod:`edgehost.isolation.offload`), turning a status into a KernelError, and
the float buffer rules the vector kernels share (see kernels/vector/vector.h).

Isolation of a Python call: ``isolation=None`` takes the process default
(:func:`edgehost.isolation.default`: ``kvm`` where /dev/kvm works, so hostile
bytes parsed for a Python caller stay in a guest too), which costs a guest
call (microseconds, the monitor's doorbell); ``isolation="inproc"`` is the
fast path (a C call of ~0.1 us plus the kernel); ``isolation="kvm"`` where
KVM is unusable raises IsolationUnavailable, never a silent fallback.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from edgehost.errors import InputError, KernelError
from edgehost.isolation import offload
from edgehost.isolation import resolve as resolve_isolation
from edgehost.kernels import _fast
from edgehost.native import ffi
from edgehost.wasm_config import abi

STATUS_MESSAGES = {k: v for k, v in abi.KERNEL_STATUS_TEXT.items() if k < 0}


def default_isolation() -> str:
    """``kvm`` where /dev/kvm works, else ``inproc`` (and the log says so)."""
    return resolve_isolation(None)


def nbytes(data) -> int:
    """Byte length of any buffer (bytes, bytearray, memoryview, array, ndarray)."""
    return memoryview(data).nbytes


class KernelResult(NamedTuple):
    """One kernel call's eh_offload_res (include/eh_offload.h)."""

    status: int
    detail: int
    value: int
    out_len: int
    err_offset: int


def bad_buffer(kernel_name: str, exc: Exception) -> InputError:
    """The InputError for an argument the C call refused (not a C-contiguous
    buffer, a read-only output, a non-integer argument)."""
    return InputError(f"{kernel_name}: {exc}")


def run_request(kernel_name: str, kernel_id: int, iso: str, *, data=None, data2=None,
                out=None, args: tuple[int, ...] = (), flags: int = 0) -> KernelResult:
    """One kernel call under ``iso`` (already resolved) over buffers used in
    place: ``data``/``data2`` readable, ``out`` writable (or None). Returns
    the result whatever its status; at most two ``args``."""
    a0 = args[0] if args else 0
    a1 = args[1] if len(args) > 1 else 0
    try:
        if iso == "inproc":
            return KernelResult(*_fast.run(kernel_id, flags, a0, a1, data, data2, out))
        return KernelResult(*offload.run_kvm(kernel_id, flags, a0, a1, data, data2, out))
    except (BufferError, TypeError) as exc:
        raise bad_buffer(kernel_name, exc) from None


def raise_for(kernel_name: str, res: KernelResult) -> None:
    """KernelError for a failed status (the byte offset on malformed input)."""
    if res.status < 0:
        off = res.err_offset if res.status == abi.KStatus.EPARSE else None
        raise KernelError(kernel_name, res.status,
                          STATUS_MESSAGES.get(res.status, f"status {res.status}"), offset=off,
                          detail=res.detail or None)


def call(kernel_name: str, kernel_id: int, *, isolation: str | None = None,
         data=b"", data2=b"", out_cap: int = 0,
         args: tuple[int, ...] = (), flags: int = 0, out_buf=None):
    """Run one kernel; return ``(res, out_bytes)``. Raises KernelError on status < 0.

    ``data``/``data2`` may be any C-contiguous buffer; they are passed without copying.
    ``out_buf`` (a writable buffer) receives the output in place of a fresh
    ``out_cap``-byte one; then ``out_bytes`` is None and ``res.out_len`` says
    how much of ``out_buf`` was written.
    """
    iso = resolve_isolation(isolation)
    out = out_buf if out_buf is not None else (bytearray(out_cap) if out_cap else None)
    res = run_request(kernel_name, kernel_id, iso, data=data, data2=data2, out=out, args=args,
                      flags=flags)
    raise_for(kernel_name, res)
    if out_buf is not None:
        return res, None
    if not out_cap:
        return res, b""
    return res, bytes(memoryview(out)[:min(res.out_len, out_cap)])


# --- float32 / float64 helpers ----------------------------------------------

FLOAT_TYPES = {"float32": ("f", 4), "float64": ("d", 8)}


def float_dtype(data, dtype: str | None) -> str:
    """``dtype`` if given, else what a typed buffer says ('d' -> float64), else float32."""
    if dtype is not None:
        if dtype not in FLOAT_TYPES:
            raise InputError(f"dtype must be one of {sorted(FLOAT_TYPES)}, not {dtype!r}")
        return dtype
    try:
        fmt = memoryview(data).format.lstrip("<=@")
    except TypeError as exc:  # not a buffer (a str, a list): what float_buffer says too
        raise InputError(f"vector: {exc}") from None
    return "float64" if fmt == "d" else "float32"


def float_buffer(data, what: str = "vector", dtype: str = "float32"):
    """``data`` as a read-only byte view of ``dtype`` values, never copied.

    Accepts bytes-like objects, ``array``s and ndarrays of that type, at any
    address (the kernels need no alignment). A length that is not a whole
    number of values, or a typed buffer of another item type, is an InputError.
    """
    code, size = FLOAT_TYPES[dtype]
    try:
        mv = memoryview(data)
    except TypeError as exc:
        raise InputError(f"{what}: {exc}") from None
    if not mv.c_contiguous:
        raise InputError(f"{what}: buffer must be contiguous")
    if mv.format.lstrip("<=@") not in ("B", "b", "c", code) and mv.itemsize != 1:
        raise InputError(f"{what}: expected {dtype} data, got items of type {mv.format!r}")
    if mv.nbytes % size:
        raise InputError(f"{what}: {mv.nbytes} bytes is not a whole number of {dtype} values")
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

def cpu_features() -> list[str]:
    """The CPU features the kernels dispatch on that this machine offers: the
    CPU has them and the OS enables their registers (XCR0). Names and bits
    come from the one list in native_modules/kernels/dispatch.h."""
    from edgehost.native import kernels_lib

    lib = kernels_lib()
    mask = lib.eh_cpu_detect()
    names = []
    for bit in range(64):
        name = lib.eh_cpu_feature_name(bit)
        if name != ffi.NULL and mask >> bit & 1:
            names.append(ffi.string(name).decode())
    return names


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
