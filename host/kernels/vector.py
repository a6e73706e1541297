"""Vector kernels on float32 (float64 on request): Python API
(``host.kernels.vec_dot`` ...) and the ``edgehost kernel vec-*`` commands,
which read little-endian float32 (``--dtype float64``: float64) files.

Conventions (shapes, results, errors) are those of kernels/vector/vector.h.
Arguments may be bytes-like, ``array`` or ndarray; ``dtype`` defaults to what
a typed buffer says ('d' -> float64), else float32. Top-k is float32 only.
"""

from __future__ import annotations

import array
import struct
import sys

from edgehost.errors import InputError, KernelError
from edgehost.kernels._common import (
    FLOAT_TYPES,
    call,
    float_buffer,
    float_dtype,
    nbytes,
)
from edgehost.wasm_config import abi

KERNEL_IDS = {name.removeprefix("vec-"): kid for name, kid in abi.KERNELS.items()
              if name.startswith("vec-")}
METRICS = abi.VEC_METRICS
F64 = abi.VEC["F64"]  # eh_offload_req.flags
# The largest finite value of each type (float32: bits 0x7f7fffff).
FLOAT_MAX = {"float32": struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0],
             "float64": sys.float_info.max}
MAX_K = 0xFFFFFFFF  # top-k takes at most 2^32 - 1 rows (vector.h), so no k beyond


def _same_length(op: str, a, b, size: int) -> None:
    if nbytes(a) != nbytes(b):
        raise KernelError(f"vec-{op}", -1, f"length mismatch: {nbytes(a) // size} vs "
                          f"{nbytes(b) // size} values")


def _bits(x: float, dtype: str, what: str = "value") -> int:
    """The bit pattern of ``x`` as ``dtype``; InputError when it is not a
    number or a finite value beyond the type's range (inf and nan are values)."""
    code = "<I" if dtype == "float32" else "<Q"
    try:
        return struct.unpack(code, struct.pack("<" + FLOAT_TYPES[dtype][0], x))[0]
    except (OverflowError, struct.error, TypeError):
        limit = FLOAT_MAX[dtype]
        raise InputError(f"{what} {x!r} is not a {dtype} value (finite ones lie in "
                         f"[-{limit!r}, {limit!r}])") from None


def _from_bits(bits: int, dtype: str) -> float:
    if dtype == "float32":
        return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def _zeros(code: str, n: int) -> array.array:
    """A fresh array the kernel writes into (no intermediate copies)."""
    return array.array(code, bytes(FLOAT_TYPES["float32" if code == "f" else "float64"][1]))*n


def _flags(dtype: str) -> int:
    return F64 if dtype == "float64" else 0


def _scalar(op: str, a, b, isolation, dtype) -> float:
    dtype = float_dtype(a, dtype)
    a = float_buffer(a, "a", dtype)
    data2 = float_buffer(b, "b", dtype) if b is not None else b""
    if b is not None:
        _same_length(op, a, data2, FLOAT_TYPES[dtype][1])
    res, _ = call(f"vec-{op}", KERNEL_IDS[op], isolation=isolation, data=a, data2=data2,
                  flags=_flags(dtype))
    return _from_bits(res.value, dtype)


def vec_dot(a, b, *, isolation: str | None = None, dtype: str | None = None) -> float:
    """sum(a[i] * b[i]); equal lengths required."""
    return _scalar("dot", a, b, isolation, dtype)


def vec_sum(a, *, isolation: str | None = None, dtype: str | None = None) -> float:
    return _scalar("sum", a, None, isolation, dtype)


def vec_l2norm(a, *, isolation: str | None = None, dtype: str | None = None) -> float:
    return _scalar("l2norm", a, None, isolation, dtype)


def vec_l2sq(a, b, *, isolation: str | None = None, dtype: str | None = None) -> float:
    """Squared Euclidean distance."""
    return _scalar("l2sq", a, b, isolation, dtype)


def vec_cosine(a, b, *, isolation: str | None = None, dtype: str | None = None) -> float:
    """Cosine similarity (NaN when either vector is all zeros)."""
    return _scalar("cosine", a, b, isolation, dtype)


def vec_axpy(alpha: float, x, y, *, isolation: str | None = None,
             dtype: str | None = None) -> array.array:
    """alpha * x + y as a new ``array`` ('f' or 'd')."""
    dtype = float_dtype(x, dtype)
    code, size = FLOAT_TYPES[dtype]
    xb, yb = float_buffer(x, "x", dtype), float_buffer(y, "y", dtype)
    _same_length("axpy", xb, yb, size)
    out = _zeros(code, nbytes(xb) // size)
    call("vec-axpy", KERNEL_IDS["axpy"], isolation=isolation, data=xb, data2=yb,
         args=(_bits(alpha, dtype, "alpha"),), flags=_flags(dtype), out_buf=out)
    return out


def vec_matvec(matrix, vector, *, isolation: str | None = None,
               dtype: str | None = None) -> array.array:
    """M v for a row-major M whose row length is len(v)."""
    dtype = float_dtype(matrix, dtype)
    code, size = FLOAT_TYPES[dtype]
    mb, vb = float_buffer(matrix, "matrix", dtype), float_buffer(vector, "vector", dtype)
    rows = nbytes(mb) // nbytes(vb) if nbytes(vb) else 0
    out = _zeros(code, rows)
    call("vec-matvec", KERNEL_IDS["matvec"], isolation=isolation, data=mb, data2=vb,
         flags=_flags(dtype), out_buf=out)
    return out


def vec_topk(matrix, query, k: int, metric: str = "l2sq", *,
             isolation: str | None = None) -> list[tuple[int, float]]:
    """The k rows nearest to ``query`` (float32): [(row, score)], best first.

    metric: ``l2sq`` (smallest distance first), ``dot`` or ``cosine`` (largest first).
    """
    if metric not in METRICS:
        raise InputError(f"vec_topk: metric must be one of {sorted(METRICS)}, not {metric!r}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise InputError(f"vec_topk: k must be an integer >= 0, not {k!r}")
    mb, qb = float_buffer(matrix, "matrix"), float_buffer(query, "query")
    rows = nbytes(mb) // nbytes(qb) if nbytes(qb) else 0
    k = min(k, rows)  # the kernel returns at most one record per row
    res, out = call("vec-topk", KERNEL_IDS["topk"], isolation=isolation, data=mb, data2=qb,
                    out_cap=8 * k, args=(k, METRICS[metric]))
    return [(row, score) for row, score in struct.iter_unpack("<If", out)]


__all__ = ["vec_dot", "vec_sum", "vec_l2norm", "vec_l2sq", "vec_cosine", "vec_axpy",
           "vec_matvec", "vec_topk"]
