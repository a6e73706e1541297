"""``edgehost doctor``: what this machine offers edgehost."""

from __future__ import annotations

import importlib.metadata

from edgehost import isolation
from edgehost.kernels._common import cpu_features
from edgehost.toolchain import compilers as toolchain


def guest_probe() -> dict:
    """Run one real call in a KVM guest."""
    from edgehost.isolation import guest

    try:
        return guest.probe()
    except Exception as exc:  # doctor reports, never crashes
        return {"ok": False, "detail": str(exc)}


def cold_call_path() -> str:
    """Who enters a parked guest: the caller, or its woken vCPU thread."""
    import platform

    from edgehost.native import lib

    kernel = platform.release()
    if lib.eh_vm_cold_on_caller():
        return (f"the caller's thread or the woken vCPU thread, whichever this process "
                f"measures faster (kernel {kernel})")
    return f"wake the vCPU thread (kernel {kernel} < 6.12: re-binding a vCPU is slow)"


def report() -> dict:
    """Everything ``doctor`` prints, as data (the --json shape)."""
    kvm_ok, kvm_reason = isolation.kvm_status()
    tcs = toolchain.find_all()
    rep = {
        "kvm": kvm_ok,
        "kvm_detail": kvm_reason,
        "guest_call": guest_probe() if kvm_ok else {"ok": False, "detail": kvm_reason},
        "cold_calls": cold_call_path(),
        "default_isolation": isolation.default(),
        "cpu_features": cpu_features(),
        "toolchains": {k: {"ok": v.ok, "detail": v.detail} for k, v in tcs.items()},
        "wasmtime": importlib.metadata.version("wasmtime"),
        "edgehost": importlib.metadata.version("edgehost"),
    }
    return rep
