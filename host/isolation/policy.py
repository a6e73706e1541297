"""Isolation policy: which isolation a tenant or call gets, and whether KVM is usable.

Decision: the default is ``kvm`` wherever /dev/kvm opens, a VM can be created
and the guest image is installed; otherwise ``inproc``, announced loudly on
stderr and by ``edgehost doctor``. An explicit ``kvm`` request on a machine
without KVM is an :class:`~host.errors.IsolationUnavailable` error, never a
downgrade.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os

log = logging.getLogger("edgehost.isolation")

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01


def _kvm_device() -> tuple[bool, str]:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return False, f"/dev/kvm: {exc.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION, 0)
        if version != 12:
            return False, f"unexpected KVM API version {version}"
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm)
    except OSError as exc:
        return False, f"KVM_CREATE_VM failed: {exc.strerror}"
    finally:
        os.close(fd)
    return True, "ok"


@functools.cache
def kvm_status() -> tuple[bool, str]:
    """(usable, reason): /dev/kvm opens, the API version fits, a VM can be
    created, and the guest image is installed."""
    ok, reason = _kvm_device()
    if not ok:
        return ok, reason
    from edgehost.isolation import guest as vmm

    if not vmm.IMAGE.is_file():
        return False, f"guest image {vmm.IMAGE} missing; reinstall with: pip install -e ."
    return True, "ok"


def kvm_usable() -> bool:
    """True where kernels can run in KVM guests."""
    return kvm_status()[0]


@functools.cache
def default() -> str:
    """The isolation used when none is asked for (see module docstring)."""
    ok, reason = kvm_status()
    if ok:
        return "kvm"
    log.warning("KVM unavailable (%s): kernels run IN PROCESS without hardware isolation",
                reason)
    return "inproc"
