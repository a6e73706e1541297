"""Offload of one kernel request under an isolation policy.

``inproc`` runs the kernel in this process; ``kvm`` runs it in the caller's
KVM guest (native_modules/vmm). Asking for ``kvm`` where it is unavailable
raises :class:`IsolationUnavailable`; nothing falls back silently.
"""

from __future__ import annotations

from host.errors import IsolationUnavailable
from host.native import ffi, kernels_lib

ISOLATIONS = ("kvm", "inproc")


def run_inproc(req, res) -> None:
    """Run ``req`` (an ``eh_offload_req *``) in process, filling ``res``."""
    kernels_lib().eh_kernel_run(req, res)


def run(req, res, isolation: str) -> None:
    """Run one request under ``isolation``; see the module docstring."""
    if isolation == "inproc":
        run_inproc(req, res)
        return
    if isolation == "kvm":
        raise IsolationUnavailable("kvm", "the KVM monitor is not built into this install")
    raise IsolationUnavailable(isolation, f"unknown isolation; choose one of {ISOLATIONS}")


__all__ = ["ISOLATIONS", "run", "run_inproc", "ffi"]
