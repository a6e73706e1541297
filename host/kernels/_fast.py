"""The in-process per-call path of the kernel API: ``_fastcall`` (a small
CPython extension, native_modules/fastcall/fastcall.c) bound to the kernels
of ``_native``, so a call costs about what a C extension's call does and
buffers are read and written in place, never converted or copied.

``crc32c(data, seed)`` and ``run(kernel, flags, arg0, arg1, data, data2, out)``
(-> ``(status, detail, value, out_len, err_offset)``) raise BufferError or
TypeError for objects that are not C-contiguous buffers; the public wrappers
turn those into :class:`~edgehost.errors.InputError`.
"""

from __future__ import annotations

from edgehost.native import ffi, kernels_lib
from edgehost.native_modules import _fastcall

_lib = kernels_lib()  # dispatch tables ready before the first call
_fastcall.bind(int(ffi.cast("uintptr_t", ffi.addressof(_lib, "eh_crc32c"))),
               int(ffi.cast("uintptr_t", ffi.addressof(_lib, "eh_kernel_run"))))

crc32c = _fastcall.crc32c
run = _fastcall.run

__all__ = ["crc32c", "run"]
