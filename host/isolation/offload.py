"""Offload of one kernel request of the Python kernel API to a KVM guest
(native_modules/vmm, owned by :mod:`edgehost.isolation.guest`); ``inproc``
calls go straight to the kernels (:mod:`edgehost.kernels._fast`). Which one a
call gets is decided by :func:`edgehost.isolation.resolve`.

Size limits under ``kvm`` (the guest a call runs in has ``mem_mb`` of RAM;
the shared guest of the Python API and the CLI has the most a guest may
have, 1 GiB, of which 1008 MiB are scratch for inputs and outputs):

* inputs that lie in a :class:`~edgehost.isolation.guest.SharedBuffer` (or a
  tenant's linear memory) are read in place and need no scratch;
* other inputs are copied: inputs + output (+ 2 KiB of alignment gaps) must
  fit the scratch, except for ``crc32c``, whose input is streamed in pieces
  that do (the result is the CRC of the whole);
* a request over the limit raises :class:`~edgehost.errors.KernelError`
  naming the kernel and the sizes (run it with ``isolation="inproc"``, pass
  the input in a SharedBuffer, or split it).
"""

from __future__ import annotations

from edgehost.isolation import guest as guests
from edgehost.isolation import resolve


def run_kvm(kernel: int, flags: int, arg0: int, arg1: int, data, data2, out,
            guest=None) -> tuple[int, int, int, int, int]:
    """One kernel call in ``guest`` (:func:`~edgehost.isolation.guest.default_guest`
    when None) over Python buffers (:meth:`~edgehost.isolation.guest.Guest.run_buffers`):
    ``(status, detail, value, out_len, err_offset)``.

    Raises IsolationUnavailable where KVM is not usable, GuestFault/GuestTimeout
    when the guest misbehaves, KernelError when the request does not fit.
    """
    resolve("kvm")
    return (guest or guests.default_guest()).run_buffers(kernel, flags, arg0, arg1,
                                                          data, data2, out)


__all__ = ["run_kvm"]
