"""CRC32C (Castagnoli) kernel: Python API (the command is ``edgehost kernel crc32c``).

``crc32c(data, isolation="inproc")`` is the fast path: one C call through
:mod:`._fast` (about what the ``crc32c`` package costs per call), the input
read in place. Without ``isolation`` the call takes the process default
(``kvm`` where /dev/kvm works: a guest call, microseconds); see
:mod:`edgehost.kernels._common`.
"""

from __future__ import annotations

from edgehost.isolation import resolve as resolve_isolation
from edgehost.kernels import _fast
from edgehost.kernels._common import bad_buffer, raise_for, run_request
from edgehost.wasm_config import abi

KERNEL_ID = abi.Kernel.CRC32C
CHUNK = 8 << 20  # the command reads files in pieces this big, continuing the CRC


def crc32c(data, seed: int = 0, *, isolation: str | None = None) -> int:
    """CRC32C of ``data`` (any C-contiguous buffer, read in place), continuing
    from ``seed`` (a previous result; taken modulo 2**32)."""
    if isolation == "inproc" or resolve_isolation(isolation) == "inproc":
        try:
            return _fast.crc32c(data, seed)
        except (BufferError, TypeError) as exc:
            raise bad_buffer("crc32c", exc) from None
    res = run_request("crc32c", KERNEL_ID, "kvm", data=data, args=(seed & 0xFFFFFFFF,))
    raise_for("crc32c", res)
    return res.value & 0xFFFFFFFF


def crc32c_stream(fileobj, *, isolation: str | None = None, chunk: int = CHUNK) -> int:
    """CRC32C of everything readable from a binary file object, in bounded memory."""
    crc = 0
    while piece := fileobj.read(chunk):
        crc = crc32c(piece, crc, isolation=isolation)
    return crc


__all__ = ["crc32c", "crc32c_stream"]
