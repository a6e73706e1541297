"""Every kernel call of a tenant is bounded by what is left of its deadline,
and one rule holds for both imports: a kernel call that runs past the
request's deadline ends the request with a trap of kind "deadline", as tenant
code that runs past deadline_ms does (issue 16: in process, a 50 ms tenant
ran a 3.3 s STREAM copy to success). In process here; tests/kvm has the
guest's side."""

from __future__ import annotations

import pytest

from tests.support import deadline_case


@pytest.mark.parametrize("export,deadline_ms", [("stream", 50), ("crc", 1)])
def test_a_kernel_call_past_the_deadline_traps_as_a_deadline(export, deadline_ms):
    deadline_case("inproc", export, deadline_ms)
