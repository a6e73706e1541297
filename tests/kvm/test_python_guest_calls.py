"""The Python kernel API's guest calls: Guest.run_buffers, one eh_vm_offload
through the CPython extension (native_modules/fastcall/fastcall.c, offload)
over the caller's buffers, no cffi objects. What the cffi path gave must
hold: the same answers, in-place reads of a SharedBuffer, typed errors with
the monitor's own text, a closed guest refused, other threads free to run
while a call waits on its guest."""

from __future__ import annotations

import random
import threading

import pytest

from edgehost import kernels
from edgehost.errors import GuestClosed, GuestFault, InputError, KernelError
from edgehost.isolation import guest as vmm
from edgehost.kernels import _common, _fast
from edgehost.wasm_config import abi
from tests.support import UD2, elf_patch

pytestmark = pytest.mark.kvm

CRC = abi.KERNELS["crc32c"]


def test_answers_and_statuses_are_the_kernels(make_guest):
    g = make_guest(mem_mb=64)
    data = random.Random(3).randbytes(70_000)
    status, _detail, value, out_len, _off = g.run_buffers(CRC, 0, 0, 0, data, None, None)
    assert (status, value, out_len) == (0, kernels.crc32c(data, isolation="inproc"), 0)
    # a failed kernel is its status (a parse error with its byte offset), not an
    # exception, and the output is what the kernel wrote: as in process
    for doc in (b'{"a": [1,', b'{"a":  [1, 2]}', b"[" * 5000):
        outs = bytearray(64), bytearray(64)
        got = g.run_buffers(abi.KERNELS["json-minify"], 0, 0, 0, doc, None, outs[0])
        want = _fast.run(abi.KERNELS["json-minify"], 0, 0, 0, doc, None, outs[1])
        assert got == want and outs[0] == outs[1], doc[:20]


def test_a_shared_buffer_is_read_in_place(make_guest):
    g = make_guest(mem_mb=64)
    with g.share(1 << 20) as buf:
        buf[:] = random.Random(4).randbytes(1 << 20)
        before = g.stats()["mapped_calls"]
        _s, _d, value, _n, _o = g.run_buffers(CRC, 0, 0, 0, buf.view, None, None)
        assert value == kernels.crc32c(buf.view, isolation="inproc")
        assert g.stats()["mapped_calls"] == before + 1


def test_the_monitors_refusal_keeps_its_text(make_guest):
    g = make_guest(mem_mb=32)
    with pytest.raises(KernelError, match=r"^json-validate: .*scratch"):
        g.run_buffers(abi.KERNELS["json-validate"], 0, 0, 0, b"[" * (17 << 20), None,
                      bytearray(1 << 20))
    assert g.run_buffers(CRC, 0, 0, 0, b"123456789", None, None)[2] == 0xE3069283


def test_a_guest_fault_names_what_the_guest_did(make_guest, tmp_path):
    image = elf_patch(vmm.TEST_IMAGE, tmp_path / "crc-ud2.elf", {"eh_crc32c_run": UD2})
    g = make_guest(image=image, mem_mb=64)
    with pytest.raises(GuestFault, match="invalid opcode"):
        g.run_buffers(CRC, 0, 0, 0, b"x" * 100, None, None)


def test_bad_arguments_are_input_errors_and_the_guest_serves_on():
    for bad in ("text", object(), [1, 2]):
        with pytest.raises(InputError, match="crc32c"):
            kernels.crc32c(bad, isolation="kvm")
    with pytest.raises(InputError, match="crc32c"):  # an output that cannot be written
        _common.run_request("crc32c", CRC, "kvm", data=b"x", out=b"read-only")
    with pytest.raises(InputError, match="vector"):
        kernels.vec_dot("abcd", "abcd", isolation="kvm")
    assert kernels.crc32c(b"123456789", isolation="kvm") == 0xE3069283


def test_a_closed_guest_is_refused(make_guest):
    g = make_guest(mem_mb=32)
    assert g.run_buffers(CRC, 0, 0, 0, b"abc", None, None)[0] == 0
    g.close()
    with pytest.raises(GuestClosed):
        g.run_buffers(CRC, 0, 0, 0, b"abc", None, None)


def test_a_call_waiting_on_its_guest_lets_other_threads_run(make_guest):
    """The extension releases the GIL for the whole guest call: a thread
    counting in Python keeps counting while calls of 16 MiB each (~1 ms in
    the guest, plus their copy) run back to back."""
    g = make_guest(mem_mb=64)
    data = bytes(16 << 20)
    stop, counts = threading.Event(), [0]

    def count():
        while not stop.is_set():
            counts[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        seen = []
        for _ in range(5):
            before = counts[0]
            assert g.run_buffers(CRC, 0, 0, 0, data, None, None)[0] == 0
            seen.append(counts[0] - before)
    finally:
        stop.set()
        t.join()
    assert sum(1 for n in seen if n > 0) >= 3, seen
