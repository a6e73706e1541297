"""Offload of one kernel request under an isolation policy.

``inproc`` runs the kernel in this process; ``kvm`` runs it in a KVM guest
(native_modules/vmm, owned by :mod:`edgehost.isolation.guest`). Which one a
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

from edgehost.errors import IsolationUnavailable
from edgehost.isolation import ISOLATIONS, resolve
from edgehost.isolation import guest as guests
from edgehost.native import ffi, kernels_lib


def run_inproc(req, res) -> None:
    """Run ``req`` (an ``eh_offload_req *``) in process, filling ``res``."""
    kernels_lib().eh_kernel_run(req, res)


def run_kvm(req, res, guest=None) -> None:
    """Run ``req`` in ``guest`` (:func:`~edgehost.isolation.guest.default_guest`
    when None).

    Raises IsolationUnavailable where KVM is not usable, GuestFault/GuestTimeout
    when the guest misbehaves, KernelError when the request does not fit.
    """
    resolve("kvm")
    (guest or guests.default_guest()).offload(req, res)


def run_kvm_buffers(kernel: int, flags: int, arg0: int, arg1: int, data, data2, out,
                    guest=None) -> tuple[int, int, int, int, int]:
    """One kernel call in ``guest`` (the default guest when None) over Python
    buffers (:meth:`~edgehost.isolation.guest.Guest.run_buffers`): ``(status,
    detail, value, out_len, err_offset)``. Raises as :func:`run_kvm`."""
    resolve("kvm")
    return (guest or guests.default_guest()).run_buffers(kernel, flags, arg0, arg1,
                                                          data, data2, out)


def run(req, res, isolation: str, *, guest=None) -> None:
    """Run one request under ``isolation``; see the module docstring."""
    if isolation == "inproc":
        run_inproc(req, res)
        return
    if isolation == "kvm":
        run_kvm(req, res, guest)
        return
    raise IsolationUnavailable(isolation, f"unknown isolation; choose one of {ISOLATIONS}")


__all__ = ["ISOLATIONS", "run", "run_inproc", "run_kvm", "run_kvm_buffers", "ffi"]
