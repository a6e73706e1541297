"""``edgehost bench kv``: the kv imports from WASM, per backend.

A WAT tenant calls ``kv_get`` / ``kv_put`` N times in a loop inside one
call; the figure is (that call - the same loop without the import) / N, so
neither Python nor the call into WASM is in it (as in ``bench hostcall``).
Measured in one run:

* the embedded store (LMDB, default durability: committed at once, flushed
  in the background every ``flush_ms``), with ``durable = "sync"`` too;
* the in-process map (``memory``: what ``kv_*`` used before the store);
* Redis on loopback (a ``redis-server`` this benchmark starts, or ``--kv``),
  next to a plain redis-py client doing GET / SET of the same 16 B value.

Targets (issue 13): embedded kv_get of 16 B <= 100 ns; kv_put <= 5 us amortized.
"""

from __future__ import annotations

import pathlib
import tempfile

import click
import wasmtime

from edgehost.bench.common import COUNT, emit, median, time_per_call
from edgehost.bench.wat_loops import wat_loop
from edgehost.runtime.tenant import Tenant
from edgehost.state import open_store
from edgehost.state.localredis import LocalRedis, redis_server_path
from edgehost.wasm_config import manifest as manifest_mod

SIZES = {"full": {"get": 200_000, "put": 20_000, "sync": 50, "redis": 2_000},
         "quick": {"get": 50_000, "put": 5_000, "sync": 10, "redis": 300}}
TARGETS = {"kv_get 16B": 100.0, "kv_put 16B": 5000.0}

# Memory: 0..15 the key "key", 16..31 the 16 B value, 64.. the get buffer,
# 256.. a 4-byte key for the "new keys" loop.
_GET_KEY = "(call $get (i32.const 0) (i32.const 3) (i32.const 64) (i32.const 16))"
_PUT_KEY = "(call $put (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 16))"
_PUT_NEW_KEY = "(call $put (i32.const 256) (i32.const 4) (i32.const 16) (i32.const 16))"
WAT = ("""
(module
  (import "edgehost" "kv_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")
  (data (i32.const 16) "0123456789abcdef")
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 1024))
""" + wat_loop("loop_empty")
    + wat_loop("loop_get", failed_if=f"(i32.ne {_GET_KEY} (i32.const 16))")
    + wat_loop("loop_put", failed_if=_PUT_KEY)
    + wat_loop("loop_put_new",
               "(i32.store (i32.const 256) (i32.add (local.get $i) (local.get $p)))",
               failed_if=_PUT_NEW_KEY)
    + ")\n")


def _tenant(store, name: str, durable: str = "batch") -> Tenant:
    man = manifest_mod.from_dict({"name": name, "isolation": "inproc", "durable": durable,
                                  # a loop of N calls is one call: no 1 s deadline
                                  "limits": {"kv_max_bytes": 1 << 30, "deadline_ms": 600_000}},
                                 pathlib.Path("/bench/edgehost.toml"))
    return Tenant(man, wasm=bytes(wasmtime.wat2wasm(WAT)), store=store)


class _Loops:
    """The tenant's loops, each a call of n iterations; ns per iteration."""

    def __init__(self, tenant: Tenant):
        self.inst = tenant.instance()
        self.fns = {n: self.inst.bind(n) for n in ("loop_empty", "loop_get", "loop_put",
                                                   "loop_put_new")}
        self.next_key = 0

    def run(self, name: str, n: int) -> None:
        bad = self.fns[name](self.next_key, n)
        if name == "loop_put_new":
            self.next_key += n
        if bad:
            raise click.ClickException(f"{name}: {bad} of {n} calls failed")

    def ns(self, name: str, n: int, repeat: int) -> tuple[float, float]:
        """(median, best) ns per call over ``repeat`` runs of ``n`` calls. The
        best run is the least disturbed one: on a loaded machine it is nearer
        the cost of the call than the median, which says what a tenant gets."""
        full = time_per_call(lambda: self.run(name, n), number=1, repeat=repeat)
        base = time_per_call(lambda: self.run("loop_empty", n), number=1, repeat=repeat)
        return (max(median(full) - median(base), 0.0) / n * 1e9,
                max(min(full) - min(base), 0.0) / n * 1e9)


def _row(impl: str, op: str, figures: tuple[float, float], **extra) -> dict:
    ns, best = figures
    row = {"bench": "kv", "impl": impl, "op": op, "ns_per_call": ns, "best_ns": best}
    target = TARGETS.get(op)
    if target is not None and impl.startswith("edgehost lmdb") and "sync" not in impl:
        row.update(target=f"<= {target:g}", meets=ns <= target)
    row.update(extra)
    return row


def _wasm_rows(store, impl: str, repeat: int, n_get: int, n_put: int) -> list[dict]:
    loops = _Loops(_tenant(store, "bench-kv"))
    loops.run("loop_put", 1)  # the key the gets read
    syncs0 = store.syncs
    rows = [_row(impl, "kv_get 16B", loops.ns("loop_get", n_get, repeat)),
            _row(impl, "kv_put 16B", loops.ns("loop_put", n_put, repeat)),
            _row(impl, "kv_put 16B new keys", loops.ns("loop_put_new", n_put, repeat))]
    if store.backend == "lmdb":
        rows[1]["note"] = rows[2]["note"] = (f"{store.syncs - syncs0} background flushes "
                                             "during the puts")
    return rows


def _lmdb_rows(repeat: int, data: str | None, n: dict) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgehost-bench-kv-") as tmp:
        with open_store("lmdb", data or tmp) as store:
            rows += _wasm_rows(store, "edgehost lmdb (default durability)", repeat, n["get"],
                               n["put"])
            loops = _Loops(_tenant(store, "bench-kv-sync", durable="sync"))
            rows.append(_row("edgehost lmdb (durable = sync)", "kv_put 16B",
                             loops.ns("loop_put", n["sync"], max(3, repeat // 2)),
                             note=f"data dir {data or tmp}"))
    return rows


def _redis_rows(repeat: int, url: str | None, n: int) -> list[dict]:
    if url is None and redis_server_path() is None:
        return [{"bench": "kv", "impl": "edgehost redis", "op": "all",
                 "note": "skipped: redis-server not installed (apt-get install redis-server) "
                         "and no --kv redis://... given"}]
    with tempfile.TemporaryDirectory(prefix="edgehost-bench-redis-") as tmp:
        server = None if url else LocalRedis(tmp).start()
        try:
            url = url or server.url
            with open_store(url) as store:
                rows = _wasm_rows(store, "edgehost redis (loopback)", repeat, n, n)
                with store.namespace("bench-kv") as ns:
                    ns.drop()
            rows += _redis_py_rows(url, repeat, n)
        finally:
            if server:
                server.stop()
    return rows


def _redis_py_rows(url: str, repeat: int, n: int) -> list[dict]:
    try:
        import redis
    except ImportError:
        return [{"bench": "kv", "impl": "redis-py", "op": "all",
                 "note": "skipped: pip install redis (the [bench] extra)"}]
    client = redis.Redis.from_url(url)
    key, val = b"eh-bench-redis-py", b"0123456789abcdef"
    client.set(key, val)
    try:
        get = median(time_per_call(lambda: client.get(key), number=n, repeat=repeat))
        put = median(time_per_call(lambda: client.set(key, val), number=n, repeat=repeat))
    finally:
        client.delete(key)
        client.close()
    return [{"bench": "kv", "impl": "redis-py", "op": "GET 16B", "ns_per_call": get * 1e9},
            {"bench": "kv", "impl": "redis-py", "op": "SET 16B", "ns_per_call": put * 1e9,
             "note": "plain SET (edgehost's put also checks the quota, in a script)"}]


@click.command("kv")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--repeat", default=7, show_default=True, type=COUNT,
              help="Runs per figure (median).")
@click.option("--data", default=None, metavar="DIR",
              help="Data directory for the embedded store (default: a temporary one).")
@click.option("--kv", "redis_url", default=None, metavar="redis://HOST:PORT/DB",
              help="Measure this Redis server instead of starting one on loopback.")
@click.option("--no-redis", is_flag=True, help="Leave Redis out.")
@click.option("--quick", is_flag=True, help="Fewer calls and 3 runs per figure (seconds).")
def command(as_json, repeat, data, redis_url, no_redis, quick):
    """kv_get / kv_put from WASM: embedded LMDB, in-process map, Redis (vs redis-py)."""
    n = SIZES["quick" if quick else "full"]
    repeat = min(repeat, 3) if quick else repeat
    rows = _lmdb_rows(repeat, data, n)
    with open_store("memory") as mem:
        rows += _wasm_rows(mem, "edgehost memory (in-process map)", repeat, n["get"], n["put"])
    if not no_redis:
        rows += _redis_rows(repeat, redis_url, n["redis"])
    order = ["bench", "impl", "op", "ns_per_call", "best_ns", "target", "meets", "note"]
    rows = [{k: r[k] for k in order if k in r} for r in rows]
    emit(rows, as_json, title="edgehost bench kv: ns per call from WASM (median of runs)")
