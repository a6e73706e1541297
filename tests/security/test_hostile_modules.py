"""Hostile module bodies: traps of every kind, memory and table bombs, deep
recursion, trap storms, and reentrant use of the host API (imports called
from the start function, from _initialize, from edgehost_configure, from
edgehost_alloc, and a tenant called again from inside its own log handling).
Each ends in one clear typed error at load or at call time; the host, the
tenant's next call and a bystander tenant are unaffected."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys

import pytest
import wasmtime

from edgehost.errors import ConfigError, EdgehostError, TenantTrap
from tests.support import Resources, caller_module, import_decls, record, run_threads, wat_tenant

TRAPS = """
  (type $v (func (param i32) (result i32)))
  (type $w (func (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $rec)
  (func $rec (param $d i32) (result i32)
    (i32.add (call $rec (i32.add (local.get $d) (i32.const 1))) (i32.const 1)))
  (func $rec_import (param $d i32) (result i32)
    (call $log (i32.const 0) (i32.const 0) (i32.const 0))
    (i32.add (call $rec_import (i32.add (local.get $d) (i32.const 1))) (i32.const 1)))
  (func (export "unreachable") (param i32 i32) (result i32) unreachable)
  (func (export "oob_load") (param i32 i32) (result i32) (i32.load (i32.const -4)))
  (func (export "oob_store") (param i32 i32) (result i32)
    (i32.store (i32.const 0x20000) (i32.const 1)) (i32.const 0))
  (func (export "div_zero") (param i32 i32) (result i32)
    (i32.div_u (i32.const 1) (local.get 1)))
  (func (export "int_overflow") (param i32 i32) (result i32)
    (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "bad_convert") (param i32 i32) (result i32)
    (i32.trunc_f64_s (f64.const 1e300)))
  (func (export "null_indirect") (param i32 i32) (result i32)
    (call_indirect (type $v) (i32.const 0) (i32.const 1)))
  (func (export "indirect_oob") (param i32 i32) (result i32)
    (call_indirect (type $v) (i32.const 0) (i32.const 1000)))
  (func (export "indirect_type") (param i32 i32) (result i32)
    (call_indirect (type $w) (i32.const 0)))
  (func (export "deep_recursion") (param i32 i32) (result i32) (call $rec (i32.const 0)))
  (func (export "deep_import_recursion") (param i32 i32) (result i32)
    (call $rec_import (i32.const 0)))
  (func (export "import_trap") (param i32 i32) (result i32)
    (call $log (i32.const 1) (i32.const -1) (i32.const 2)) (i32.const 0))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "ok") (param i32 i32) (result i32) (i32.const 0))
"""

TRAP_CAUSES = {
    "unreachable": "unreachable",
    "oob_load": "out of bounds memory access",
    "oob_store": "out of bounds memory access",
    "div_zero": "integer divide by zero",
    "int_overflow": "integer overflow",
    "bad_convert": "integer overflow",
    "null_indirect": "uninitialized element",
    "indirect_oob": "undefined element",
    "indirect_type": "indirect call type mismatch",
    "deep_recursion": "call stack exhausted",
    "deep_import_recursion": "call stack exhausted",
    "import_trap": "edgehost.log: range",
}


@pytest.fixture(scope="module")
def trapper(tmp_path_factory):
    return wat_tenant(import_decls() + TRAPS, name="trapper",
                      tmp=tmp_path_factory.mktemp("trapper"), limits={"deadline_ms": 50})


@pytest.mark.parametrize("export", list(TRAP_CAUSES))
def test_every_trap_is_one_clear_line(trapper, bystander, export):
    with pytest.raises(TenantTrap) as ei:
        trapper.call(export)
    err = ei.value
    assert err.kind == "trap" and err.export == export
    assert TRAP_CAUSES[export] in err.message, err.message
    assert "\n" not in str(err) and "backtrace" not in str(err), str(err)
    assert trapper.call("ok").status == 0
    bystander.check()


def test_runaway_loop_is_stopped_by_the_deadline(trapper, bystander):
    with pytest.raises(TenantTrap) as ei:
        trapper.call("spin")
    assert ei.value.kind == "deadline" and "\n" not in str(ei.value)
    bystander.check()


def test_cli_prints_one_line_for_a_trap(tmp_path):
    d = tmp_path / "trapper"
    d.mkdir()
    (d / "edgehost.toml").write_text('name = "trapper"\nisolation = "inproc"\n')
    (d / "trapper.wasm").write_bytes(wat_module(import_decls() + TRAPS))
    for export in ("deep_recursion", "import_trap", "oob_load"):
        proc = subprocess.run([sys.executable, "-m", "edgehost", "call", str(d), export],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("edgehost: error: "), proc.stderr
        assert TRAP_CAUSES[export] in lines[0]


def wat_module(body: str) -> bytes:
    from tests.support import ABI_PROLOGUE

    return bytes(wasmtime.wat2wasm(f"(module {body} {ABI_PROLOGUE})"))


def test_trap_storm_leaks_nothing(trapper, bystander):
    """10,000 traps of every kind: memory, descriptors and threads stay flat."""
    kinds = [k for k in TRAP_CAUSES if "recursion" not in k] * 3 + ["deep_recursion"]

    def storm(n):
        for i in range(n):
            with pytest.raises(TenantTrap):
                trapper.call(kinds[i % len(kinds)])

    storm(2000)  # warm up: pools, allocator caches, wasmtime's trap machinery
    before = Resources.now()
    storm(10_000)
    after = Resources.now()
    record("inputs", what="traps of 12 kinds in a row (trap storm)", count=12_000,
           outcome=f"RSS {after.rss_kib - before.rss_kib:+d} KiB, fds {after.fds - before.fds:+d}, "
                   f"threads {after.threads - before.threads:+d} over the last 10,000")
    before.assert_flat(after, rss_slack_kib=16 * 1024)
    assert trapper.call("ok").status == 0
    bystander.check()


# -- memory and table bombs ------------------------------------------------------------
GROW = """
  (func (export "grow") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (memory.grow (i32.load (local.get $p))))
    (drop (call $response_set_body (i32.const 0) (i32.const 4)))
    (i32.const 0))
  ;; grow one page at a time until refused; answer the final page count
  (func (export "grow_all") (param $p i32) (param $n i32) (result i32)
    (loop $l (br_if $l (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0))))
    (i32.store (i32.const 0) (memory.size))
    (drop (call $response_set_body (i32.const 0) (i32.const 4)))
    (i32.const 0))
  (table $t 1 funcref)
  (func (export "table_grow") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (table.grow $t (ref.null func) (i32.load (local.get $p))))
    (drop (call $response_set_body (i32.const 0) (i32.const 4)))
    (i32.const 0))
"""


@pytest.fixture
def bomber(tmp_path):
    return wat_tenant(import_decls() + GROW, name="bomber", tmp=tmp_path,
                      limits={"memory_mb": 4})


def _i32(body: bytes) -> int:
    return struct.unpack("<i", body)[0]


@pytest.mark.parametrize("pages", [65536, 65535, 0x7FFFFFFF, -1, 63])
def test_memory_grow_past_the_cap_is_refused(bomber, bystander, pages):
    before = Resources.now()
    assert _i32(bomber.call("grow", struct.pack("<i", pages)).body) == -1
    assert Resources.now().rss_kib - before.rss_kib < 8 * 1024
    bystander.check()


def test_memory_grown_page_by_page_stops_at_the_cap(bomber):
    assert _i32(bomber.call("grow_all").body) == 64  # 4 MiB / 64 KiB
    assert _i32(bomber.call("grow", struct.pack("<i", 1)).body) == -1


@pytest.mark.parametrize("elems", [0x7FFFFFFF, 1 << 20, -1])
def test_table_grow_bomb_is_refused(bomber, bystander, elems):
    before = Resources.now()
    assert _i32(bomber.call("table_grow", struct.pack("<i", elems)).body) == -1
    assert Resources.now().rss_kib - before.rss_kib < 8 * 1024
    bystander.check()


@pytest.mark.parametrize("body,what", [
    ("(memory (export \"memory\") 1000)", "memory"),                   # 62.5 MiB > 4 MiB cap
    ("(memory (export \"memory\") 65536)", "memory"),                  # 4 GiB at start
    ("(memory (export \"memory\") 2) (table 10000000 funcref)", "table"),
    ("(memory (export \"memory\") 2) (data (i32.const 0x1FFF0) \"0123456789abcdefXYZ\")",
     "out of bounds"),
    ("(memory (export \"memory\") 2) (func $s unreachable) (start $s)", "unreachable"),
])
def test_hostile_declarations_fail_at_load(tmp_path, bystander, body, what):
    mod = f"""{body}
      (func (export "edgehost_abi_v1"))
      (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 4096))
      (func (export "h") (param i32 i32) (result i32) (i32.const 0))"""
    with pytest.raises(EdgehostError) as ei:
        wat_tenant(mod, name="bomb", tmp=tmp_path, limits={"memory_mb": 4})
    assert what in str(ei.value) and "\n" not in str(ei.value), str(ei.value)
    bystander.check()


# -- reentrancy ------------------------------------------------------------------------
def test_imports_during_instantiation_see_no_memory(tmp_path, bystander):
    """A start function runs before the host has resolved the memory: every
    import that touches memory traps (even for an empty range), the others work."""
    body = import_decls() + """
      (memory (export "memory") 2)
      (func $start
        (call $abi_nop)
        (drop (call $time_monotonic_ns))
        (drop (call $response_set_status (i32.const 201)))
        (call $log (i32.const 1) (i32.const 0) (i32.const 0)))
      (start $start)
      (func (export "edgehost_abi_v1"))
      (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 4096))
      (func (export "h") (param i32 i32) (result i32) (i32.const 0))"""
    with pytest.raises(TenantTrap, match=r"edgehost\.log: range \[0, \+0\) is outside"):
        wat_tenant(body, name="start-imports", tmp=tmp_path)
    bystander.check()


REENTRANT = """
  (global $phase (mut i32) (i32.const 0))
  (func (export "_initialize")
    ;; the memory is ready here: imports work, state is set before any call
    (i32.store (i32.const 512) (call $kv_put (i32.const 600) (i32.const 4)
                                             (i32.const 600) (i32.const 4))))
  (func (export "edgehost_configure") (result i32)
    (call $log (i32.const 1) (i32.const 600) (i32.const 4))
    (i32.const 0))
  ;; edgehost_alloc calls imports too: it reads the request it is about to
  ;; receive, and sets a body and a status that the handler later overrides
  (func (export "edgehost_alloc") (param $n i32) (result i32)
    (i32.store (i32.const 520) (call $request_body (i32.const 2048) (i32.const 16)
                                                   (i32.const 0)))
    (drop (call $response_set_body (i32.const 600) (i32.const 4)))
    (drop (call $response_set_status (i32.const 500)))
    (i32.const 4096))
  (func (export "h") (param $p i32) (param $n i32) (result i32)
    ;; calls the tenant's own alloc export again from inside a handler
    (drop (call 999_ALLOC (i32.const 8)))
    (i32.store (i32.const 524) (call $kv_get (i32.const 600) (i32.const 4)
                                             (i32.const 528) (i32.const 4)))
    (drop (call $response_set_status (i32.const 200)))
    (drop (call $response_set_body (i32.const 512) (i32.const 20)))
    (i32.const 0))
  (data (i32.const 600) "key!")
"""


def test_imports_from_initialize_configure_and_alloc(tmp_path, bystander):
    body = (import_decls() + REENTRANT.replace("999_ALLOC", "$alloc")
            .replace('(func (export "edgehost_alloc")', '(func $alloc (export "edgehost_alloc")')
            + '(memory (export "memory") 2) (func (export "edgehost_abi_v1"))')
    t = wat_tenant(body, name="reentrant", tmp=tmp_path)
    r = t.call("h", b"0123456789abcdef")
    put, _, body_rc, get, value = struct.unpack("<iiiiI", r.body)
    assert (put, get, r.http_status) == (0, 4, 200)
    assert value == int.from_bytes(b"key!", "little")
    assert body_rc == 16  # alloc read the request body being delivered
    bystander.check()


def test_tenant_called_again_from_its_own_log_line(tmp_path, bystander):
    """A Python log handler that calls the same tenant while the host drains
    that tenant's log lines: no deadlock, both calls answer."""
    t = wat_tenant(caller_module(), name="log-reentry", tmp=tmp_path)
    seen = []

    class Reenter(logging.Handler):
        def emit(self, record):
            if record.getMessage() == "again" and len(seen) < 3:
                seen.append(t.call("call_abi_nop").status)

    handler = Reenter()
    logger = logging.getLogger("edgehost.tenant.log-reentry")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        t.call("call_log", struct.pack("<iii", 1, 4096 + 12, 5) + b"again")
    finally:
        logger.removeHandler(handler)
    assert seen == [0]
    bystander.check()


def test_one_tenant_from_many_threads_keeps_its_state_consistent(tmp_path):
    t = wat_tenant(caller_module(), name="threads", tmp=tmp_path,
                   limits={"kv_max_bytes": 1 << 20})

    def work(i):
        key = b"k%03d" % i
        for n in range(300):
            val = struct.pack("<I", n)
            args = struct.pack("<iiii", 4096 + 16, 4, 4096 + 20, 4) + key + val
            assert struct.unpack("<i", t.call("call_kv_put", args).body)[0] == 0
            get = struct.pack("<iiii", 4096 + 16, 4, 0, 4) + key
            assert struct.unpack("<i", t.call("call_kv_get", get).body)[0] == 4

    assert run_threads(8, work) == []
    assert t.kv_stats() == (8, 8 * 8)


def test_configure_refusal_is_a_load_error(tmp_path):
    body = """(func (export "edgehost_configure") (result i32) (i32.const 3))
              (func (export "h") (param i32 i32) (result i32) (i32.const 0))"""
    with pytest.raises(ConfigError, match="edgehost_configure returned 3"):
        wat_tenant(body, name="refuses", tmp=tmp_path)


@pytest.mark.parametrize("ret,what", [
    ("(i32.const 0)", "no room for the input"),
    ("(i32.const -16)", "no room for the input"),
    ("(i32.const 0x1FFFF)", "no room for the input"),   # 1 byte before the end, 16 to write
    ("unreachable", "unreachable"),
])
def test_hostile_alloc_is_a_clear_error(tmp_path, bystander, ret, what):
    body = f"""(memory (export "memory") 2) (func (export "edgehost_abi_v1"))
      (func (export "edgehost_alloc") (param i32) (result i32) {ret})
      (func (export "h") (param i32 i32) (result i32) (i32.const 0))"""
    t = wat_tenant(body, name="bad-alloc", tmp=tmp_path)
    for _ in range(3):
        with pytest.raises(TenantTrap) as ei:
            t.call("h", b"0123456789abcdef")
        assert what in str(ei.value) and "\n" not in str(ei.value)
    bystander.check()
