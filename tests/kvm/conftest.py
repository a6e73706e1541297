"""KVM test gate and helpers: every test here needs a usable /dev/kvm and is
skipped LOUDLY (with the reason) where it is absent."""

from __future__ import annotations

import warnings

import pytest

from edgehost import isolation


def _kvm_reason() -> str | None:
    ok, reason = isolation.kvm_status()
    return None if ok else reason


@pytest.fixture(autouse=True)
def _require_kvm():
    reason = _kvm_reason()
    if reason:
        msg = f"KVM UNAVAILABLE -- guest monitor NOT TESTED: {reason}"
        warnings.warn(msg, stacklevel=1)
        pytest.skip(msg)


@pytest.fixture
def make_guest():
    """Factory for vmm.Guest objects that are all closed after the test."""
    from edgehost.isolation import guest as vmm

    made = []

    def make(**config):
        g = vmm.Guest(**config)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def request(kernel: int = 0, data: bytes = b"", data2: bytes = b"", out_cap: int = 0,
            args=()):
    """(req, res, keepalive) for a raw guest call."""
    from edgehost.native import ffi

    req = ffi.new("eh_offload_req *")
    res = ffi.new("eh_offload_res *")
    keep = [ffi.from_buffer(data), ffi.from_buffer(data2), ffi.new("uint8_t[]", max(out_cap, 8))]
    req.kernel = kernel
    setattr(req, "in", int(ffi.cast("uintptr_t", keep[0])))
    req.in_len = len(data)
    req.in2 = int(ffi.cast("uintptr_t", keep[1]))
    req.in2_len = len(data2)
    req.out = int(ffi.cast("uintptr_t", keep[2]))
    req.out_cap = out_cap
    for i, a in enumerate(args):
        req.arg[i] = a
    return req, res, keep
