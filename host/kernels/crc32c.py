"""CRC32C (Castagnoli) kernel: Python API and ``edgehost kernel crc32c``."""

from __future__ import annotations

from edgehost.kernels._common import call, default_isolation, nbytes
from edgehost.native import ffi, kernels_lib

KERNEL_ID = 1
CHUNK = 8 << 20  # the command reads files in pieces this big, continuing the CRC


def crc32c(data, seed: int = 0, *, isolation: str | None = None) -> int:
    """CRC32C of ``data`` (any bytes-like buffer), continuing from ``seed`` (a previous result)."""
    if (isolation or default_isolation()) == "inproc":
        # The kernel EH_KERNEL_CRC32C runs, minus the request plumbing (~2 us a call).
        return kernels_lib().eh_crc32c(seed & 0xFFFFFFFF, ffi.from_buffer(data), nbytes(data))
    res, _ = call("crc32c", KERNEL_ID, isolation=isolation, data=data, args=(seed & 0xFFFFFFFF,))
    return res.value & 0xFFFFFFFF


def crc32c_stream(fileobj, *, isolation: str | None = None, chunk: int = CHUNK) -> int:
    """CRC32C of everything readable from a binary file object, in bounded memory."""
    crc = 0
    while piece := fileobj.read(chunk):
        crc = crc32c(piece, crc, isolation=isolation)
    return crc


__all__ = ["crc32c", "crc32c_stream"]
