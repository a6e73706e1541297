"""Isolation policy: kvm asked for where it is unusable is an error, never a
silent fallback to in-process."""

from __future__ import annotations

import pytest

from edgehost import isolation, kernels
from edgehost.errors import IsolationUnavailable

pytestmark = pytest.mark.kvm


def test_kvm_unusable_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(isolation, "kvm_status", lambda: (False, "no /dev/kvm (simulated)"))
    with pytest.raises(IsolationUnavailable, match="simulated"):
        kernels.crc32c(b"abc", isolation="kvm")
    assert kernels.crc32c(b"abc", isolation="inproc") == 0x364B3FB7


def test_unknown_isolation_is_rejected():
    with pytest.raises(IsolationUnavailable, match="unknown isolation"):
        kernels.crc32c(b"abc", isolation="vm")


def test_default_is_kvm_here():
    isolation.default.cache_clear()
    assert isolation.default() == "kvm"
