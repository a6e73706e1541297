"""Start from the configured state: the section edits, and a snapshot that
answers exactly as the configured module does -- its memory, its globals,
its input buffer -- without running ``_initialize`` or ``edgehost_configure``."""

from __future__ import annotations

import pathlib

import pytest
import wasmtime

from edgehost.native import ffi, lib
from edgehost.reload import files, pipeline, snapshot, wasm_binary
from tests.reload import support


@pytest.mark.parametrize("n", [0, 1, 63, 64, 127, 128, 624485, -1, -64, -65, -(1 << 31),
                               (1 << 31) - 1, (1 << 63) - 1, -(1 << 63)])
def test_leb128_round_trips(n):
    assert wasm_binary.Reader(wasm_binary.sleb(n)).sleb() == n
    if n >= 0:
        assert wasm_binary.Reader(wasm_binary.uleb(n)).uleb() == n


def test_instrument_exports_mutable_globals_only():
    wasm = support.module("v1")
    out = wasm_binary.instrument(wasm)
    mod = wasmtime.Module(wasmtime.Engine(), out)
    names = {e.name for e in mod.exports}
    assert {wasm_binary.global_export_name(i) for i in (0, 1, 2)} <= names
    assert {"hello", "edgehost_configure", "memory"} <= names


def test_memory_segments_cover_every_nonzero_byte():
    mem = bytearray(wasm_binary.PAGE * 3)
    mem[5] = 1
    mem[4096 * 2 + 7:4096 * 2 + 9] = b"ab"
    mem[-1] = 9
    segs = wasm_binary.memory_segments(bytes(mem))
    rebuilt = bytearray(len(mem))
    for off, body in segs:
        rebuilt[off:off + len(body)] = body
    assert rebuilt == mem
    assert len(segs) == 2   # blocks 0 and 2 merge across one zero block; the last stands alone


@pytest.mark.parametrize("wat", [
    '(module (memory (export "memory") 1 2) (data "x"))',          # a passive segment
    '(module (memory (export "memory") 1 1 shared))',              # a shared memory
    '(module (memory (export "memory") 1) (memory 1))',            # two memories
])
def test_what_cannot_be_carried_is_refused(wat):
    wasm = bytes(wasmtime.wat2wasm(wat))
    with pytest.raises(wasm_binary.Unsupported):
        wasm_binary.snapshot(wasm, bytes(wasm_binary.PAGE), {})


def _loaded(tmp_path: pathlib.Path, wasm: bytes, **kw) -> pipeline.Loaded:
    d = support.make_tenant(tmp_path, "snap", wasm=wasm, **kw)
    return pipeline.load(files.read(d))


def test_snapshot_answers_like_the_configured_module(tmp_path):
    loaded = _loaded(tmp_path, support.module("v7", rounds=20_000), greeting="hey")
    snap = pipeline.snapshot_form(loaded)
    assert snap.form == "snapshot"
    for export in ("hello", "table"):
        a = loaded.tenant.call(export, b"")
        b = snap.tenant.call(export, b"")
        assert a.body == b.body and a.http_status == b.http_status == 200
    assert snap.tenant.call("hello", b"").body == support.answer("v7", "hey")
    exports = {e.name for e in snap.tenant.module.exports}
    assert "edgehost_configure" not in exports and "_initialize" not in exports
    assert not any(n.startswith(wasm_binary.SNAPSHOT_GLOBAL_PREFIX) for n in exports)


def test_snapshot_instances_skip_configure_entirely(tmp_path):
    """A configure that works once and traps the second time: the snapshot
    never runs it again, however many instances it makes."""
    once = """
      (if (i32.load (i32.const 4000)) (then (unreachable)))
      (i32.store (i32.const 4000) (i32.const 1))"""
    loaded = _loaded(tmp_path, support.module("once", configure=once),
                     extra='instance = "fresh"')
    snap = pipeline.snapshot_form(loaded)
    for _ in range(20):   # fresh: a new instance per call
        assert snap.tenant.call("hello", b"").body == support.answer("once")


def test_snapshot_starts_with_its_input_buffer(tmp_path):
    loaded = _loaded(tmp_path, support.module("buf"),
                     extra='instance = "fresh"\n[limits]\nmax_body_bytes = 4096')
    snap = pipeline.snapshot_form(loaded)
    assert (snap.snapshot.input_ptr, snap.snapshot.input_cap) == (65536, 4096)
    assert snap.tenant.call("hello", b"x" * 4000).body == support.answer("buf")
    err = ffi.new("char[512]")
    inst = lib.eh_instance_new(snap.tenant.native, ffi.new("int *"), err, 512)
    try:
        ptr, cap = ffi.new("uint32_t *"), ffi.new("uint32_t *")
        lib.eh_instance_input_buffer(inst, ptr, cap)
        assert (ptr[0], cap[0]) == (snap.snapshot.input_ptr, snap.snapshot.input_cap)
    finally:
        lib.eh_instance_free(inst)


def test_no_input_buffer_when_the_tenant_has_no_room_for_it(tmp_path):
    """This module's edgehost_alloc always answers 65536 and does not grow: a
    1 MiB buffer does not fit its 2 pages, so none is recorded."""
    snap = pipeline.snapshot_form(_loaded(tmp_path, support.module("tight")))
    assert (snap.snapshot.input_ptr, snap.snapshot.input_cap) == (0, 0)
    assert snapshot.INPUT_PREALLOC > 65536


def test_a_module_that_cannot_be_snapshotted_keeps_its_configured_form(tmp_path):
    wat = support._WAT.format(version="p", vlen=1, bar=16385, after=16386, head=2,
                              configure="", pages=2).rstrip().rstrip(")") + \
        '(data "passive"))'
    loaded = _loaded(tmp_path, bytes(wasmtime.wat2wasm(wat)))
    with pytest.raises(pipeline.Rejected, match="passive data"):
        pipeline.snapshot_form(loaded)
    assert loaded.tenant.call("hello", b"").body == support.answer("p")
