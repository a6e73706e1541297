"""Isolation policy: which isolation a tenant or call gets, and whether KVM is usable.

Decision: the default is ``kvm`` wherever /dev/kvm opens and a VM can be
created; otherwise ``inproc``, announced loudly on stderr and by
``edgehost doctor``. An explicit ``kvm`` request on a machine without KVM is
an :class:`~host.errors.IsolationUnavailable` error, never a downgrade.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os

log = logging.getLogger("edgehost.isolation")

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01


@functools.cache
def kvm_status() -> tuple[bool, str]:
    """(usable, reason): opens /dev/kvm, checks the API version, creates a VM."""
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


def kvm_usable() -> bool:
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
