"""Inputs larger than a guest's scratch memory through the Python kernel API
with isolation kvm (issue 16): the API's guest has 1 GiB, CRC32C streams any
size in pieces, and what cannot fit is refused naming the kernel."""

from __future__ import annotations

import os

import pytest

from edgehost.errors import KernelError
from edgehost.isolation import guest as vmm
from edgehost.kernels import crc32c, csv_rows, json_check
from edgehost.wasm_config import abi
from tests.support import request

pytestmark = pytest.mark.kvm


@pytest.mark.slow
def test_the_reported_sizes_work_through_kvm():
    data = os.urandom(240 << 20)
    assert crc32c(data, isolation="kvm") == crc32c(data, isolation="inproc")
    del data
    row = b'12345,"a, quoted field",3.5,word\n'
    text = row * ((80 << 20) // len(row))
    got = csv_rows(text, isolation="kvm")
    assert len(got) == text.count(b"\n") and got[0] == got[-1] == [
        b"12345", b"a, quoted field", b"3.5", b"word"]
    del got, text
    doc = b"[" + b'{"k":[1,2.5,"x"]},' * ((250 << 20) // 19) + b"1]"
    assert json_check(doc, isolation="kvm") is None
    assert json_check(doc[:-1], isolation="kvm") == json_check(doc[:-1], isolation="inproc")


def test_crc32c_streams_past_the_guests_memory(make_guest):
    g = make_guest(mem_mb=32, idle_spin_us=0)
    data = os.urandom(100 << 20)
    req, res, _keep = request(abi.KERNELS["crc32c"], data)
    g.offload(req, res)
    assert res.value == crc32c(data, isolation="inproc")


def test_what_cannot_fit_is_refused_naming_the_kernel(make_guest):
    g = make_guest(mem_mb=32, idle_spin_us=0)
    for name in ("json-validate", "csv-fields", "vec-sum"):
        req, res, _keep = request(abi.KERNELS[name], bytes(40 << 20), out_cap=4096)
        with pytest.raises(KernelError, match=rf"^{name}: in\+in2\+out = .* exceed the guest's "
                                              r"\d+ bytes of scratch memory"):
            g.offload(req, res)
    assert vmm.DEFAULT_GUEST_MB == 1024
