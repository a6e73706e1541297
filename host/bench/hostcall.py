"""``edgehost bench hostcall``: the cost of crossing the WASM boundary.

Measured in one run, for edgehost's C data plane and for plain wasmtime-py
(Python host functions, wasmtime-py calls) on the same module:
WASM->host no-op import, WASM->host kv_get of 16 bytes, Python->WASM call of
a trivial export, and instantiation (pooled and fresh).

WASM->host costs come from a loop inside the module (N calls per entry,
minus the same loop without the call), so Python is not in the figure.
"""

from __future__ import annotations

import pathlib

import click
import wasmtime

from edgehost.bench.common import COUNT, autorange, emit, median, time_per_call
from edgehost.bench.wat_loops import wat_loop
from edgehost.native import ffi, lib
from edgehost.runtime import engine as engine_mod
from edgehost.runtime.tenant import Tenant
from edgehost.wasm_config import manifest as manifest_mod

WAT = ("""
(module
  (import "edgehost" "abi_nop" (func $nop))
  (import "edgehost" "kv_get" (func $kvget (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_put" (func $kvput (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "setup") (param i32 i32) (result i32)
    (call $kvput (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 16)))
  (func (export "trivial") (param i32 i32) (result i32) (i32.const 0))
""" + wat_loop("loop_empty")
    + wat_loop("loop_nop", "(call $nop)")
    + wat_loop("loop_kv",
               "(drop (call $kvget (i32.const 0) (i32.const 3) (i32.const 64) (i32.const 16)))")
    + ")\n")
LOOP_N = 200_000


def _tenant(instance_policy: str = "reuse") -> Tenant:
    man = manifest_mod.from_dict({"name": "bench-hostcall", "isolation": "inproc",
                                  "instance": instance_policy},
                                 pathlib.Path("/bench/edgehost.toml"))
    return Tenant(man, wasm=bytes(wasmtime.wat2wasm(WAT)))


def _loop_cost(call, export_loop, export_empty, repeat) -> float:
    """ns per iteration of export_loop minus the empty loop (medians)."""
    full = median(time_per_call(lambda: call(export_loop), number=1, repeat=repeat))
    base = median(time_per_call(lambda: call(export_empty), number=1, repeat=repeat))
    return max(full - base, 0.0) / LOOP_N * 1e9


def edgehost_rows(repeat: int) -> list[dict]:
    t = _tenant()
    inst = t.instance()
    loops = {name: inst.bind(name) for name in ("loop_empty", "loop_nop", "loop_kv")}
    inst.bind("setup")(16, 16)

    def run(name):
        loops[name](0, LOOP_N)

    rows = [
        {"op": "wasm->host nop", "ns_per_call": _loop_cost(run, "loop_nop", "loop_empty", repeat)},
        {"op": "wasm->host kv_get 16B",
         "ns_per_call": _loop_cost(run, "loop_kv", "loop_empty", repeat)},
    ]
    trivial = inst.bind("trivial")
    n = autorange(lambda: trivial(1, 2))
    rows.append({"op": "python->wasm trivial",
                 "ns_per_call": median(time_per_call(lambda: trivial(1, 2), number=n,
                                                     repeat=repeat)) * 1e9})
    rows.append({"op": "python->wasm handler (Tenant.call)",
                 "ns_per_call": median(time_per_call(lambda: t.call("trivial"), number=2000,
                                                     repeat=repeat)) * 1e9})
    err, kind = ffi.new("char[256]"), ffi.new("int *")
    for label, pooling in (("pooled", True), ("fresh", False)):
        eng = engine_mod.shared(pooling=pooling)
        t2 = _tenant() if pooling else _tenant_on(eng)

        def make_free(t2=t2):
            p = lib.eh_instance_new(t2.native, kind, err, 256)
            lib.eh_instance_free(p)

        rows.append({"op": f"instantiate ({label})",
                     "ns_per_call": median(time_per_call(make_free, number=500,
                                                         repeat=repeat)) * 1e9})
    for r in rows:
        r.update(bench="hostcall", impl="edgehost (C API)")
    return rows


def _tenant_on(eng) -> Tenant:
    """A tenant compiled on a non-pooling engine (the 'fresh' allocator)."""
    saved = engine_mod.shared
    try:
        engine_mod.shared = lambda **kw: eng
        return _tenant()
    finally:
        engine_mod.shared = saved


def wasmtime_py_rows(repeat: int) -> list[dict]:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, WAT)
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    kv = {b"key": bytes(range(16))}

    def kv_get(caller, kp, kl, op, cap):
        mem = caller["memory"]
        key = bytes(mem.read(caller, kp, kp + kl))
        val = kv.get(key)
        if val is None:
            return -1
        if len(val) <= cap:
            mem.write(caller, val, op)
        return len(val)

    i32 = wasmtime.ValType.i32()
    linker.define_func("edgehost", "abi_nop", wasmtime.FuncType([], []), lambda: None)
    linker.define_func("edgehost", "kv_get", wasmtime.FuncType([i32] * 4, [i32]), kv_get,
                       access_caller=True)
    linker.define_func("edgehost", "kv_put", wasmtime.FuncType([i32] * 4, [i32]),
                       lambda a, b, c, d: 0)
    inst = linker.instantiate(store, module)
    ex = inst.exports(store)
    small = LOOP_N // 100  # Python host functions are ~1000x slower

    def loop_cost(name):
        f, e = ex[name], ex["loop_empty"]
        full = median(time_per_call(lambda: f(store, 0, small), number=1, repeat=repeat))
        base = median(time_per_call(lambda: e(store, 0, small), number=1, repeat=repeat))
        return max(full - base, 0.0) / small * 1e9

    trivial = ex["trivial"]
    n = autorange(lambda: trivial(store, 1, 2))
    rows = [
        {"op": "wasm->host nop", "ns_per_call": loop_cost("loop_nop")},
        {"op": "wasm->host kv_get 16B", "ns_per_call": loop_cost("loop_kv")},
        {"op": "python->wasm trivial",
         "ns_per_call": median(time_per_call(lambda: trivial(store, 1, 2), number=n,
                                             repeat=repeat)) * 1e9},
        {"op": "instantiate (fresh)",
         "ns_per_call": median(time_per_call(
             lambda: linker.instantiate(wasmtime.Store(engine), module), number=200,
             repeat=repeat)) * 1e9},
    ]
    for r in rows:
        r.update(bench="hostcall", impl="wasmtime-py")
    return rows


@click.command("hostcall")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--repeat", default=7, show_default=True, type=COUNT,
              help="Runs per figure (median).")
def command(as_json, repeat):
    """WASM<->host call costs: edgehost's C data plane vs plain wasmtime-py."""
    rows = edgehost_rows(repeat) + wasmtime_py_rows(repeat)
    order = ["bench", "impl", "op", "ns_per_call"]
    rows = [{k: r[k] for k in order} for r in rows]
    emit(rows, as_json, title="hostcall: ns per call (median of runs)")
