"""Where a tenant's kernels run: the one place that decides isolation.

``kvm`` runs kernels in a per-tenant KVM guest (:mod:`edgehost.isolation.guest`
owns those handles); ``inproc`` runs them in this process. :func:`resolve`
turns what a manifest, a CLI flag or a Python caller asked for into one of
the two; :mod:`edgehost.isolation.offload` runs one request in a guest.
"""

from __future__ import annotations

from edgehost.errors import IsolationUnavailable
from edgehost.isolation.policy import default, kvm_status, kvm_usable

ISOLATIONS = ("kvm", "inproc")


def resolve(requested: str | None) -> str:
    """``kvm`` or ``inproc`` for a request of ``None``/``"default"``, ``"kvm"`` or
    ``"inproc"``. Asking for ``kvm`` where it is unusable raises
    :class:`~edgehost.errors.IsolationUnavailable`; nothing is downgraded silently."""
    if requested is None or requested == "default":
        return default()
    if requested == "kvm":
        ok, reason = kvm_status()
        if not ok:
            raise IsolationUnavailable("kvm", reason)
        return "kvm"
    if requested == "inproc":
        return "inproc"
    raise IsolationUnavailable(requested, f"unknown isolation; choose one of {ISOLATIONS}")


__all__ = ["ISOLATIONS", "default", "kvm_status", "kvm_usable", "resolve"]
