"""Offload of one kernel request under an isolation policy.

``inproc`` runs the kernel in this process; ``kvm`` runs it in a KVM guest
(native_modules/vmm, owned by :mod:`edgehost.isolation.guest`). Which one a
call gets is decided by :func:`edgehost.isolation.resolve`.
"""

from __future__ import annotations

from edgehost.errors import IsolationUnavailable
from edgehost.isolation import ISOLATIONS
from edgehost.native import ffi, kernels_lib


def run_inproc(req, res) -> None:
    """Run ``req`` (an ``eh_offload_req *``) in process, filling ``res``."""
    kernels_lib().eh_kernel_run(req, res)


def run_kvm(req, res, tenant: str | None = None) -> None:
    """Run ``req`` in ``tenant``'s KVM guest (the shared CLI guest if None).

    Raises IsolationUnavailable where KVM is not usable, GuestFault/GuestTimeout
    when the guest misbehaves.
    """
    from edgehost import isolation
    from edgehost.isolation import guest as guests

    isolation.resolve("kvm")
    g = guests.tenant_guest(tenant) if tenant else guests.default_guest()
    g.offload(req, res)


def run(req, res, isolation: str, *, tenant: str | None = None) -> None:
    """Run one request under ``isolation``; see the module docstring."""
    if isolation == "inproc":
        run_inproc(req, res)
        return
    if isolation == "kvm":
        run_kvm(req, res, tenant)
        return
    raise IsolationUnavailable(isolation, f"unknown isolation; choose one of {ISOLATIONS}")


__all__ = ["ISOLATIONS", "run", "run_inproc", "run_kvm", "ffi"]
