"""Results computed in a KVM guest equal the in-process kernels."""

from __future__ import annotations

import array
import os
import random
import subprocess
import sys

import pytest

from edgehost import kernels
from edgehost.native import ffi
from edgehost.wasm_config import abi

pytestmark = pytest.mark.kvm

SIZES = (0, 1, 7, 8, 63, 64, 65, 4095, 4096, 65537, 1 << 20)


@pytest.mark.parametrize("size", SIZES)
def test_crc32c_matches_inproc(size):
    data = random.Random(size).randbytes(size)
    assert kernels.crc32c(data, isolation="kvm") == kernels.crc32c(data, isolation="inproc")


def test_crc32c_known_vector():
    assert kernels.crc32c(b"123456789", isolation="kvm") == 0xE3069283


def test_other_kernels_match_inproc():
    doc = b'{"a": [1, 2, {"b": "x y"}], "c": null}'
    assert kernels.json_minify(doc, isolation="kvm") == kernels.json_minify(doc, isolation="inproc")
    assert (kernels.json_validate(doc, isolation="kvm")
            == kernels.json_validate(doc, isolation="inproc"))
    table = b'a,b,c\n1,"x,y",3\n4,5,6\n'
    assert (list(kernels.csv_rows(table, isolation="kvm"))
            == list(kernels.csv_rows(table, isolation="inproc")))
    a = array.array("f", [1.0, 2.5, -3.0] * 37)
    b = array.array("f", [0.5, -1.0, 2.0] * 37)
    assert kernels.vec_dot(a, b, isolation="kvm") == kernels.vec_dot(a, b, isolation="inproc")


def _crc_variants():
    from edgehost.kernels._common import variants

    return [name for name, ok in variants("crc32c") if ok]


@pytest.mark.parametrize("variant", _crc_variants())
def test_every_isa_variant_runs_in_guest(make_guest, variant):
    # AVX-512 / VPCLMULQDQ variants prove the guest's XSAVE state and CPUID.
    from tests.support import request

    data = random.Random(1).randbytes(100_000)
    g = make_guest(variant=variant)
    req, res, _keep = request(1, data)
    g.offload(req, res)
    assert res.value == kernels.crc32c(data, isolation="inproc")


def test_stream_kernel_in_guest(make_guest):
    from tests.support import request

    n = 4096
    a = ffi.new("double[]", [float(i) for i in range(n)])
    b = ffi.new("double[]", [2.0] * n)
    req, res, keep = request(15, bytes(ffi.buffer(a)), bytes(ffi.buffer(b)), out_cap=8 * n,
                             args=(3, 2))
    make_guest().offload(req, res)
    assert res.status == 0 and res.value > 0
    out = ffi.cast("double *", keep[2])
    assert [out[i] for i in (0, 1, 100)] == [6.0, 7.0, 106.0]  # triad: a + 3*b


def test_cli_kvm_equals_inproc(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(os.urandom(300_000))
    outs = [subprocess.run([sys.executable, "-m", "edgehost", "kernel", "crc32c", "--isolation",
                            iso, str(f)], capture_output=True, text=True, check=True).stdout
            for iso in ("kvm", "inproc")]
    assert outs[0] == outs[1] and len(outs[0].strip()) == 8


def test_too_large_input_is_an_error_naming_the_kernel(make_guest):
    from edgehost.errors import KernelError
    from tests.support import request

    g = make_guest(mem_mb=32)
    req, res, _keep = request(abi.KERNELS["json-validate"], b"[" * (17 << 20), out_cap=1 << 20)
    with pytest.raises(KernelError, match=r"^json-validate: .*scratch"):
        g.offload(req, res)
    req, res, _keep = request(1, b"abc")
    g.offload(req, res)  # the guest still serves


def test_crc32c_larger_than_the_guest_is_streamed(make_guest):
    # CRC32C's input is split into pieces that fit, each CRC seeding the next.
    import os

    import crc32c as peer

    from tests.support import request

    g = make_guest(mem_mb=32)
    data = os.urandom(40 << 20)
    assert not g.fits(len(data))
    req, res, _keep = request(1, data, args=(0x1234,))
    g.offload(req, res)
    assert res.status == 0
    assert res.value == peer.crc32c(data, 0x1234)
    assert g.stats()["calls"] >= 2


@pytest.mark.parametrize("spin_us", [0, 100])
def test_output_survives_resets(make_guest, spin_us):
    # A reset right after a call (idle window over) must not wipe the output
    # before the host has copied it out.
    from edgehost.kernels.json import scratch_size
    from tests.support import request

    doc = b'{"a": [1, 2, {"b": "x y"}], "c": null}'
    g = make_guest(idle_spin_us=spin_us)
    for i in range(300):
        req, res, keep = request(5, doc, out_cap=scratch_size(len(doc), 64), args=(64,))
        g.offload(req, res)
        assert bytes(ffi.buffer(keep[2], res.out_len)) == b'{"a":[1,2,{"b":"x y"}],"c":null}', i
