"""The input window: large inputs in a tenant instance's wasm memory are read
by the guest in place, read-only, and the window shows only the memory of
the instance that called last -- never a freed one, never another tenant's."""

from __future__ import annotations

import mmap
import os

import crc32c as crc32c_peer
import pytest

from edgehost.errors import GuestFault
from edgehost.isolation import guest as vmm
from edgehost.native import ffi, lib
from tests.kvm.conftest import request
from tests.support import wat_tenant

pytestmark = pytest.mark.kvm

MAP_GPA = 4 << 30  # EH_GL_MAP_GPA
BIG = 1 << 20

# A tenant whose handler returns the CRC32C of its request body as its status.
WAT = """
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (memory (export "memory") 40)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (call $crc (local.get $p) (local.get $n) (i32.const 0)))
"""


def _tenant(name):
    return wat_tenant(WAT, name=name, isolation="kvm", kernels=["crc32c"])


def _crc(t, data):
    return t.call("crc", data, check=False).status & 0xFFFFFFFF


def test_large_tenant_inputs_are_read_in_place():
    t = _tenant("window-big")
    data = os.urandom(BIG)
    for _ in range(3):
        assert _crc(t, data) == crc32c_peer.crc32c(data)
    st = t.guest.stats()
    # the first call from a memory copies (a slot update costs more), then mapped
    assert (st["mapped_calls"], st["window_maps"]) == (2, 1)


def test_small_inputs_are_copied():
    t = _tenant("window-small")
    data = os.urandom(4096)
    for _ in range(3):
        assert _crc(t, data) == crc32c_peer.crc32c(data)
    assert t.guest.stats()["mapped_calls"] == 0


def test_a_freed_instance_leaves_the_window():
    t = _tenant("window-free")
    data = os.urandom(BIG)
    for _ in range(2):
        _crc(t, data)
    assert t.guest.stats()["window_maps"] == 1
    g, seen = t.guest, {}
    close = g.close
    g.close = lambda: (seen.update(g.stats()), close())  # the version frees its guest last
    t.close()
    assert seen["window_drops"] == 1


# ---- the window seen from inside a guest (test image) ---------------------

def _memory(fill: int) -> mmap.mmap:
    m = mmap.mmap(-1, BIG)  # page-aligned, like a wasm linear memory
    m.write(bytes([fill]) * BIG)
    return m


def _crc_in(g, mem, off=0, n=BIG - 4096):
    """CRC32C of mem[off:off+n] with mem passed as the caller's linear memory."""
    base = ffi.from_buffer(mem)
    req, res, _keep = request(1)
    setattr(req, "in", int(ffi.cast("uintptr_t", base)) + off)
    req.in_len = n
    err = ffi.new("char[]", 256)
    assert lib.eh_vm_offload_in(g.handle, req, res, base, len(mem), err, 256) == 0, \
        ffi.string(err)
    assert res.value == crc32c_peer.crc32c(mem[off:off + n])
    return base


def _op(g, op, *args):
    req, res, _keep = request(0, args=args)
    g.call_op(op, req, res)
    return res


@pytest.mark.parametrize("spin_us", [0, 100_000], ids=["exit-path", "warm-path"])
def test_window_is_read_only_and_shows_the_last_caller_only(make_guest, spin_us):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=spin_us, mem_mb=64)
    a, b = _memory(0xAA), _memory(0xBB)
    for _ in range(2):
        _crc_in(g, a)
    assert _op(g, vmm.OP_TEST_READ, MAP_GPA + 8).value == 0xAAAAAAAAAAAAAAAA
    for _ in range(2):
        _crc_in(g, b)
    assert _op(g, vmm.OP_TEST_READ, MAP_GPA + 8).value == 0xBBBBBBBBBBBBBBBB
    assert g.stats()["window_maps"] == 2 and g.stats()["window_drops"] == 1
    with pytest.raises(GuestFault, match="page fault .*write"):
        _op(g, vmm.OP_TEST_WRITE, MAP_GPA + 8, 1)
    assert b[8] == 0xBB


def test_forgotten_memory_is_gone_from_the_window(make_guest):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0, mem_mb=64)
    a = _memory(0xAA)
    for _ in range(2):
        base = _crc_in(g, a)
    lib.eh_vm_forget(g.handle, base)
    with pytest.raises(GuestFault, match="outside guest memory"):
        _op(g, vmm.OP_TEST_READ, MAP_GPA + 8)


def test_forget_after_the_guest_is_gone_is_harmless():
    g = vmm.Guest(mem_mb=32)
    g.boot()
    handle = ffi.cast("void *", g.handle)
    g.close()
    lib.eh_vm_forget(handle, ffi.NULL)  # must not touch the freed handle


def test_window_ends_with_the_memory(make_guest):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0, mem_mb=64)
    a = _memory(0xAA)
    for _ in range(2):
        _crc_in(g, a)
    assert _op(g, vmm.OP_TEST_READ, MAP_GPA + BIG - 8).value == 0xAAAAAAAAAAAAAAAA
    with pytest.raises(GuestFault, match="outside guest memory"):
        _op(g, vmm.OP_TEST_READ, MAP_GPA + BIG)


def test_unaligned_memory_is_copied(make_guest):
    g = make_guest(idle_spin_us=0, mem_mb=64)
    mem = memoryview(_memory(0x11))[17:]  # not page-aligned: no memory slot for it
    for _ in range(2):
        _crc_in(g, mem)
    assert g.stats()["mapped_calls"] == 0
