"""instance = "fresh" by putting used instances back in place: the write
tracking rewrite (host/reload/write_tracking.py) and the reset
(native_modules/wasmhost/fresh.c). What a request writes -- by every kind of
store, bulk operation, global, and through the host -- is never seen by the
next request, and the rewrite changes nothing else the module does."""

from __future__ import annotations

import pathlib

import pytest
import wasmtime

from edgehost.reload import files, pipeline, wasm_binary, write_tracking
from edgehost.runtime import tenant as tenant_mod
from tests.reload import support

# Each call reports, 8 bytes each, what earlier calls left where it writes,
# then leaves traces there: plain, page-straddling, bulk, SIMD and lane
# stores, a global, and host writes (request_body, and the request body
# itself in the input buffer: a short body after a long one shows the long
# one's tail). "table" reports the memory's size, then grows it.
LEAKY = """
(module
  (import "edgehost" "response_set_body" (func $set_body (param i32 i32) (result i32)))
  (import "edgehost" "request_body" (func $req_body (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $g (mut i32) (i32.const 0))
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "hello") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 96) (i32.const 0x4b41454c))
    (i64.store (i32.const 100) (i64.load (i32.const 20000)))
    (i64.store (i32.const 108) (i64.extend_i32_u (global.get $g)))
    (i64.store (i32.const 116) (i64.load (i32.const 32764)))
    (i64.store (i32.const 124) (i64.load (i32.const 40092)))
    (i64.store (i32.const 132) (i64.load (i32.const 50000)))
    (i64.store (i32.const 140) (i64.load (i32.const 60008)))
    (i64.store (i32.const 148) (i64.load (i32.const 90000)))
    (i64.store (i32.const 156) (i64.load (i32.add (local.get $p) (local.get $n))))
    (i64.store (i32.const 164) (i64.load (i32.const 100000)))
    (i64.store (i32.const 20000) (i64.const 0x1111111111111111))
    (global.set $g (i32.const 7))
    (i64.store (i32.const 32764) (i64.const -1))
    (memory.fill (i32.const 36000) (i32.const 0xAB) (i32.const 4100))
    (memory.copy (i32.const 50000) (local.get $p) (local.get $n))
    (v128.store (i32.const 60000) (v128.const i64x2 -1 -1))
    (drop (call $req_body (i32.const 90000) (i32.const 64) (i32.const 0)))
    (v128.store64_lane 1 (i32.const 100000) (v128.const i64x2 0 0x2222))
    (drop (call $set_body (i32.const 96) (i32.const 76)))
    (i32.const 0))
  (func (export "table") (param i32 i32) (result i32)
    (i64.store (i32.const 100) (i64.extend_i32_u (memory.size)))
    (drop (memory.grow (i32.const 1)))
    (drop (call $set_body (i32.const 100) (i32.const 8)))
    (i32.const 0))
)
"""
CLEAN = b"LEAK" + bytes(72)   # what a new instance reports (the response is read before reset)


def _served(tmp_path: pathlib.Path, wat: str, instance: str,
            max_body: int = 16384) -> pipeline.Loaded:
    d = support.make_tenant(tmp_path, "leaky", wasm=bytes(wasmtime.wat2wasm(wat)),
                            extra=f'instance = "{instance}"\n[limits]\n'
                                  f'max_body_bytes = {max_body}')
    return pipeline.snapshot_form(pipeline.load(files.read(d)))


def test_no_request_sees_what_an_earlier_one_wrote(tmp_path):
    snap = _served(tmp_path, LEAKY, "fresh")
    assert snap.snapshot.fresh_in_place is True, snap.snapshot.fresh_note
    # Sizes that leave a longer body's tail behind, in the page the next body
    # half covers (restored) and past pages it covers whole (not restored:
    # overwritten); 16384 fills the whole input buffer.
    sizes = [16, 8, 8192, 4196, 8192, 100, 16384, 0, 12288, 4095]
    for i in range(50):
        body = bytes([65 + i % 26]) * sizes[i % len(sizes)]
        assert snap.tenant.call("hello", body).body == CLEAN, i
    assert snap.tenant.call("table", b"").body == (2).to_bytes(8, "little")
    assert snap.tenant.call("table", b"").body == (2).to_bytes(8, "little")  # grew: replaced
    assert snap.tenant.pool_stats()["created"] <= 3   # put back in place, not made anew
    snap.tenant.close()


def _small(pages: int, alloc: int, hello: str) -> str:
    """A tenant module whose "hello" runs ``hello`` (params $p $n), with
    ``pages`` of memory and an edgehost_alloc that always answers ``alloc``."""
    return f"""
(module
  (import "edgehost" "response_set_body" (func $set_body (param i32 i32) (result i32)))
  (memory (export "memory") {pages})
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const {alloc}))
  (func (export "hello") (param $p i32) (param $n i32) (result i32) {hello} (i32.const 0))
  (func (export "table") (param i32 i32) (result i32) (i32.const 0))
)
"""


LAST_PAGE = _small(2, 1024, """
    (i64.store (i32.const 64) (i64.load (i32.const 131064)))
    (i64.store (i32.const 131064) (i64.const -1))
    (drop (call $set_body (i32.const 64) (i32.const 8)))""")


def test_a_store_in_the_last_page_is_put_back(tmp_path):
    """Its 16-bit mark also marks the page past the memory's end: no trap,
    and the store is undone like any other."""
    snap = _served(tmp_path, LAST_PAGE, "fresh")
    assert snap.snapshot.fresh_in_place is True, snap.snapshot.fresh_note
    for _ in range(5):
        assert snap.tenant.call("hello", b"x").body == bytes(8)
    assert snap.tenant.pool_stats()["created"] <= 2
    snap.tenant.close()


ECHO = _small(64, 65536, """
    (drop (call $set_body (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 8))
                          (i32.const 8)))""")


def test_every_body_the_tenant_accepts_fits_the_snapshot_input_buffer(tmp_path):
    """Past 1 MiB too: a body that did not fit would make every request
    restore all the pages the previous body wrote before the allocator runs."""
    snap = _served(tmp_path, ECHO, "fresh", max_body=3 << 20)
    assert (snap.snapshot.input_ptr, snap.snapshot.input_cap) == (65536, 3 << 20)
    for i in range(4):
        body = bytes([i]) * (3 << 20) if i % 2 else bytes([i]) * 1000
        assert snap.tenant.call("hello", body).body == bytes([i]) * 8
    snap.tenant.close()


def test_a_reused_instance_shows_the_leaks_the_probe_looks_for(tmp_path):
    """The probe above would see every trace if instances were only reused."""
    snap = _served(tmp_path, LEAKY, "reuse")
    snap.tenant.call("hello", b"A" * 8192)
    seen = snap.tenant.call("hello", b"B" * 4196).body
    words = [seen[i:i + 8] for i in range(4, 76, 8)]
    assert all(w != bytes(8) for w in words), words
    snap.tenant.close()


def test_a_module_the_rewrite_refuses_gets_a_new_instance_per_request(tmp_path):
    wat = LEAKY.replace('(global $g (mut i32) (i32.const 0))',
                        '(global $g (mut i32) (i32.const 0))\n  (table 1 funcref)'
                        '\n  (func $t (table.set (i32.const 0) (ref.null func)))')
    snap = _served(tmp_path, wat, "fresh")
    assert snap.snapshot.fresh_in_place is False
    assert "table.set" in snap.snapshot.fresh_note
    for body in (b"A" * 16, b"B" * 8, b"C" * 8):
        assert snap.tenant.call("hello", body).body == CLEAN
    snap.tenant.close()


def test_the_python_api_loads_fresh_tenants_as_served(tmp_path):
    """edgehost.load: an instance = "fresh" tenant gets the snapshot form with
    used instances put back in place, as edgehost serve would run it."""
    import edgehost

    d = support.make_tenant(tmp_path, "leaky", wasm=bytes(wasmtime.wat2wasm(LEAKY)),
                            extra='instance = "fresh"\n[limits]\nmax_body_bytes = 16384')
    with edgehost.load(d) as t:
        assert t.write_tracked and t.fresh_note == tenant_mod.FRESH_IN_PLACE
        for i, size in enumerate([16, 8192, 8, 4196, 100, 16384, 0] * 4):
            assert t.call("hello", bytes([65 + i % 26]) * size).body == CLEAN, i
        assert t.pool_stats()["created"] <= 2


def test_the_python_api_says_when_a_fresh_tenant_gets_new_instances(tmp_path):
    import edgehost

    wat = LEAKY.replace("(memory (export", "(table 1 funcref)\n  (func $t (table.set "
                        "(i32.const 0) (ref.null func)))\n  (memory (export")
    d = support.make_tenant(tmp_path, "leaky", wasm=bytes(wasmtime.wat2wasm(wat)),
                            extra='instance = "fresh"\n[limits]\nmax_body_bytes = 16384')
    with edgehost.load(d) as t:
        assert not t.write_tracked and t.fresh_note.startswith(tenant_mod.FRESH_NEW) and \
            "table.set" in t.fresh_note, t.fresh_note
        for body in (b"A" * 8192, b"B" * 16, b"C"):
            assert t.call("hello", body).body == CLEAN


# -- the rewrite itself, in plain wasmtime -------------------------------------------------------
WRITES = """
(module
  (memory (export "memory") 2)
  (global $g (mut i64) (i64.const 5))
  (func (export "w") (param $x i32)
    (i32.store offset=8 (i32.const 4090) (local.get $x))
    (f64.store (i32.const 12284) (f64.const 1.5))
    (i64.store16 (i32.const 24576) (i64.const 0x7777))
    (memory.fill (i32.const 40000) (i32.const 3) (i32.const 9000))
    (memory.copy (i32.const 70000) (i32.const 4090) (i32.const 0))
    (memory.copy (i32.const 90000) (i32.const 4090) (i32.const 20))
    (v128.store offset=4 (i32.const 110580) (v128.const i32x4 1 2 3 4))
    (global.set $g (i64.const 6)))
)
"""


def _run(wasm: bytes):
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    inst.exports(store)["w"](store, 0x01020304)
    mem = inst.exports(store)["memory"]
    return store, inst, bytes(mem.read(store, 0, mem.data_len(store)))


def test_the_rewrite_marks_the_pages_written_and_changes_nothing_else():
    """A store of more than one byte marks its first byte's page and the next
    (one 16-bit mark: its last byte lies in one of them); bulk writes mark
    exactly their range."""
    wasm = bytes(wasmtime.wat2wasm(WRITES))
    _, _, plain = _run(wasm)
    store, inst, tracked = _run(write_tracking.track_writes(wasm))
    assert tracked == plain
    dirty = inst.exports(store)[write_tracking.DIRTY_EXPORT]
    marks = bytes(dirty.read(store, 0, 64))
    pages = {i for i, b in enumerate(marks) if b}
    want = {4098 >> 12, (4098 >> 12) + 1,               # i32 at 4090+8 (inside page 1)
            12284 >> 12, 12291 >> 12,                   # f64 straddling pages 2 and 3
            24576 >> 12, (24576 >> 12) + 1,             # i64.store16
            *range(40000 >> 12, (48999 >> 12) + 1),      # memory.fill
            *range(90000 >> 12, (90019 >> 12) + 1),      # memory.copy (the empty one marks none)
            110584 >> 12, 110599 >> 12}                 # v128 straddling pages 26 and 27
    assert pages == want
    assert inst.exports(store)[wasm_binary.global_export_name(0)].value(store) == 6


@pytest.mark.parametrize("wat, why", [
    ("(memory 1) (table 1 funcref) (func (table.set (i32.const 0) (ref.null func)))",
     "table.set"),
    ("(memory 1) (memory 1)", "more than one memory"),
    ('(import "m" "mem" (memory 1))', "one memory"),
    ("(memory 1) (table 1 funcref) (func (drop (table.grow (ref.null func) (i32.const 1))))",
     "table.grow"),
])
def test_what_the_rewrite_cannot_track_is_refused(wat, why):
    module = f'(module {wat} (func (export "f")))'
    with pytest.raises(wasm_binary.Unsupported, match=why):
        write_tracking.track_writes(bytes(wasmtime.wat2wasm(module)))


def test_served_over_http_fresh_in_place(tmp_path):
    """edgehost serve takes the rewrite too: once the snapshot is live, every
    worker puts its used instances back, and every answer is a new
    instance's."""
    import json

    from tests.support import Server, get

    support.make_tenant(tmp_path, "leaky", wasm=bytes(wasmtime.wat2wasm(LEAKY)),
                        extra='instance = "fresh"\n[limits]\nmax_body_bytes = 16384')

    def workers():
        st = json.loads(get(s.admin_port, "/status")[2])["versions"]["leaky"]
        return (st.get("snapshot") or {}).get("workers", {})

    with Server(tmp_path, workers=2) as s:
        assert support.wait_for(lambda: len(workers()) == 2 and all(
            w.get("state") == "live" for w in workers().values()), timeout=60)
        assert all(w["fresh"] == tenant_mod.FRESH_IN_PLACE
                   for w in workers().values()), workers()
        for _ in range(40):
            status, _, body = get(s.port, "/leaky/hello")
            assert (status, body) == (200, CLEAN)


def test_code_metadata_goes_and_other_custom_sections_stay():
    """Branch hints name instructions by offset, which the marks move."""
    secs = wasm_binary.sections(bytes(wasmtime.wat2wasm(WRITES)))
    for name in ("metadata.code.branch_hint", "producers"):
        secs.append(wasm_binary.Section(wasm_binary.CUSTOM, wasm_binary.uleb(len(name))
                                        + name.encode() + b"\0"))
    out = wasm_binary.sections(write_tracking.track_writes(wasm_binary.encode(secs)))
    names = [wasm_binary.Reader(s.payload).name() for s in out if s.id == wasm_binary.CUSTOM]
    assert "metadata.code.branch_hint" not in names and "producers" in names
