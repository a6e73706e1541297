"""Windows: large inputs in a tenant instance's wasm memory, or in a buffer a
Python caller shares, are read by the guest in place, read-only; a window
shows one memory of the guest's own tenant, each memory its own window, so
instances that alternate never re-point one -- and a memory that goes away
leaves its window first."""

from __future__ import annotations

import gc
import mmap
import os

import crc32c as crc32c_peer
import numpy as np
import pytest

from edgehost.errors import GuestFault
from edgehost.isolation import guest as vmm
from edgehost.kernels import crc32c, vec_dot
from edgehost.native import ffi, lib
from tests.support import request, wat_tenant

pytestmark = pytest.mark.kvm

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


def _tenant(name, **manifest):
    return wat_tenant(WAT, name=name, isolation="kvm", kernels=["crc32c"], **manifest)


def _crc(t, data, inst=None):
    if inst is None:
        return t.call("crc", data, check=False).status & 0xFFFFFFFF
    return inst.handle("crc", b"POST", b"/", b"", b"\x80", data).status & 0xFFFFFFFF


def test_large_tenant_inputs_are_read_in_place():
    t = _tenant("window-big")
    data = os.urandom(BIG)
    for _ in range(4):
        assert _crc(t, data) == crc32c_peer.crc32c(data)
    st = t.guest.stats()
    # the memory earns its slot on its second large call (after it is posted),
    # and is read in place from the third call on
    assert (st["mapped_calls"], st["window_maps"], st["window_drops"]) == (2, 1, 0)


def test_fresh_instances_copy_and_never_register_a_slot():
    # an instance used once: a new memory slot plus the guest's first read of
    # each page through it (a shadow-page fault per 4 KiB page under PVM)
    # cost far more than the copy, and the slot would have to come off again
    # before wasmtime can hand the memory to anyone else
    t = _tenant("window-fresh", instance="fresh")
    data = os.urandom(BIG)
    for _ in range(3):
        assert _crc(t, data) == crc32c_peer.crc32c(data)
    st = t.guest.stats()
    assert (st["calls"], st["mapped_calls"], st["window_maps"], st["window_drops"]) == (3, 0, 0, 0)


def test_alternating_instances_each_keep_their_window():
    t = _tenant("window-two")
    a, b = t.instance(), t.instance()
    data = os.urandom(BIG)
    for _ in range(5):
        for inst in (a, b):
            assert _crc(t, data, inst) == crc32c_peer.crc32c(data)
    st = t.guest.stats()
    assert st["window_maps"] == 2 and st["window_drops"] == 0
    assert st["mapped_calls"] == 2 * 3


def test_small_inputs_are_copied():
    t = _tenant("window-small")
    data = os.urandom(lib.EH_VM_IN_PLACE_MIN - 1)
    for _ in range(4):
        assert _crc(t, data) == crc32c_peer.crc32c(data)
    assert t.guest.stats()["mapped_calls"] == 0


def _stats(handle) -> dict:
    st = ffi.new("eh_vm_stats *")
    lib.eh_vm_get_stats(handle, st)
    return {name: getattr(st, name) for name, _ in ffi.typeof("eh_vm_stats").fields}


def test_a_freed_instance_leaves_the_window():
    t = _tenant("window-free")
    data = os.urandom(BIG)
    for _ in range(3):
        _crc(t, data)
    handle = ffi.cast("eh_vm *", t.guest.handle)
    lib.eh_vm_retain(handle)  # the test's own hold: stats after the tenant is gone
    try:
        assert _stats(handle)["window_maps"] == 1
        t.close()  # its pooled instance is freed, and detaches its memory first
        del t
        gc.collect()
        assert _stats(handle)["window_drops"] == 1
    finally:
        lib.eh_vm_destroy(handle)


# ---- windows seen from inside a guest (test image) -------------------------

WINDOW0 = lib.EH_GL_MAP_GPA
WINDOW1 = lib.EH_GL_MAP_GPA + lib.EH_GL_MAP_MAX


def _memory(fill: int, size: int = BIG) -> mmap.mmap:
    m = mmap.mmap(-1, size)  # page-aligned, like a wasm linear memory
    m.write(bytes([fill]) * size)
    return m


def _attach(g, mem, flags=lib.EH_VM_ATTACH_NOW):
    base = ffi.from_buffer(mem)
    assert lib.eh_vm_attach(g.handle, base, len(mem), flags) == lib.EH_OFFLOAD_OK
    return base


def _op(g, op, *args):
    req, res, _keep = request(0, args=args)
    g.call_op(op, req, res)
    return res


@pytest.mark.parametrize("spin_us", [0, 100_000], ids=["exit-path", "warm-path"])
def test_each_memory_has_its_own_read_only_window(make_guest, spin_us):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=spin_us, mem_mb=64)
    a, b = _memory(0xAA), _memory(0xBB)
    _attach(g, a)
    _attach(g, b)
    assert _op(g, lib.EH_OP_TEST_READ, WINDOW0 + 8).value == 0xAAAAAAAAAAAAAAAA
    assert _op(g, lib.EH_OP_TEST_READ, WINDOW1 + 8).value == 0xBBBBBBBBBBBBBBBB
    assert g.stats()["window_maps"] == 2 and g.stats()["window_drops"] == 0
    with pytest.raises(GuestFault, match="page fault .*write"):
        _op(g, lib.EH_OP_TEST_WRITE, WINDOW0 + 8, 1)
    assert a[8] == 0xAA
    # a new guest (after the fault) shows the same memories
    assert _op(g, lib.EH_OP_TEST_READ, WINDOW1 + 16).value == 0xBBBBBBBBBBBBBBBB


def test_a_shared_input_is_read_in_place_from_the_first_call(make_guest):
    g = make_guest(idle_spin_us=100_000, mem_mb=64)
    data = os.urandom(BIG)
    with g.share(len(data)) as buf:
        buf[:] = data
        req, res, _keep = request(1)
        setattr(req, "in", int(ffi.cast("uintptr_t", ffi.from_buffer(buf.view))))
        req.in_len = len(data)
        g.offload(req, res)
        assert res.value == crc32c_peer.crc32c(data)
        assert g.stats()["mapped_calls"] == 1


def test_the_kernel_api_reads_a_shared_buffer_in_place():
    data = os.urandom(BIG)
    g = vmm.default_guest()
    before = g.stats()["mapped_calls"]
    with vmm.SharedBuffer(len(data)) as buf:
        buf[:] = data
        assert crc32c(buf.view, isolation="kvm") == crc32c_peer.crc32c(data)
        assert crc32c(buf.view[4096:], isolation="kvm") == crc32c_peer.crc32c(data[4096:])
    assert g.stats()["mapped_calls"] == before + 2


def test_a_call_whose_inputs_total_the_minimum_reads_each_in_place():
    # a dot product's two halves are large together: each is read in place
    # though neither reaches EH_VM_IN_PLACE_MIN alone; a smaller call copies
    half = lib.EH_VM_IN_PLACE_MIN // 2
    a, b = np.random.default_rng(7).standard_normal((2, half // 4), dtype=np.float32)
    g = vmm.default_guest()
    before = g.stats()["mapped_calls"]
    with vmm.SharedBuffer(2 * half) as buf:
        buf[:half], buf[half:2 * half] = a.tobytes(), b.tobytes()
        want = vec_dot(a, b, isolation="inproc")
        assert vec_dot(buf.view[:half], buf.view[half:], isolation="kvm") == want
        assert g.stats()["mapped_calls"] == before + 1
        assert vec_dot(buf.view[:half - 4], buf.view[half:2 * half - 4], isolation="kvm") == \
            vec_dot(a[:-1], b[:-1], isolation="inproc")
        assert g.stats()["mapped_calls"] == before + 1


def test_detached_memory_is_gone_from_the_window(make_guest):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0, mem_mb=64)
    a = _memory(0xAA)
    base = _attach(g, a)
    assert _op(g, lib.EH_OP_TEST_READ, WINDOW0 + 8).value == 0xAAAAAAAAAAAAAAAA
    lib.eh_vm_detach(g.handle, base)
    assert g.stats()["window_drops"] == 1
    with pytest.raises(GuestFault, match="outside guest memory"):
        _op(g, lib.EH_OP_TEST_READ, WINDOW0 + 8)


def test_detach_after_the_guest_is_gone_is_harmless():
    g = vmm.Guest(mem_mb=32)
    g.boot()
    handle = ffi.cast("eh_vm *", g.handle)
    g.close()
    lib.eh_vm_detach(handle, ffi.NULL)  # must not touch the freed handle


def test_window_ends_with_the_memory(make_guest):
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0, mem_mb=64)
    a = _memory(0xAA)
    _attach(g, a)
    assert _op(g, lib.EH_OP_TEST_READ, WINDOW0 + BIG - 8).value == 0xAAAAAAAAAAAAAAAA
    with pytest.raises(GuestFault, match="outside guest memory"):
        _op(g, lib.EH_OP_TEST_READ, WINDOW0 + BIG)


def test_unaligned_memory_cannot_be_attached(make_guest):
    g = make_guest(idle_spin_us=0, mem_mb=64)
    mem = memoryview(_memory(0x11))[17:]
    assert lib.eh_vm_attach(g.handle, ffi.from_buffer(mem), len(mem), 0) == \
        lib.EH_OFFLOAD_INVALID


def test_windows_run_out_gracefully(make_guest):
    g = make_guest(idle_spin_us=0, mem_mb=64)
    mems = [_memory(i, 4096) for i in range(lib.EH_GL_WINDOWS + 1)]
    rcs = [lib.eh_vm_attach(g.handle, ffi.from_buffer(m), len(m), 0) for m in mems]
    assert rcs[:-1] == [lib.EH_OFFLOAD_OK] * lib.EH_GL_WINDOWS
    assert rcs[-1] == lib.EH_OFFLOAD_TOO_LARGE
    data = bytes(mems[-1])
    req, res, _keep = request(1, data)  # a memory without a window: copied, still right
    g.offload(req, res)
    assert res.value == crc32c_peer.crc32c(data)
