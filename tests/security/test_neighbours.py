"""Starving the neighbours through shared host resources: wasmtime's pooling
allocator (one pool of instance slots per process and fuel setting) and the
number of tenants a host can hold.

The rules under test (native_modules/wasmhost/slots.h): a tenant holds at most
its limits.instances share of the slots, past which it gets InstanceLimit
(HTTP 503) instead of a neighbour's slot; idle instances never pin slots --
when the slots run out, the least recently used idle one is freed."""

from __future__ import annotations

import json
import threading

import pytest
import wasmtime

from edgehost.errors import InstanceLimit, TenantClosed, TenantTrap
from edgehost.native import lib
from edgehost.runtime import engine
from edgehost.runtime.tenant import slot_stats
from tests.support import Server, build_tenants, get, metric, run_threads, wait_for, wat_tenant

SPIN = '(func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))'
OK = '(func (export "ok") (param i32 i32) (result i32) (i32.const 0))'
# Counts to 100,000 first: calls overlap on other threads (the GIL is released).
BUSY = """(func (export "ok") (param i32 i32) (result i32) (local $i i32)
  (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))
  (i32.const 0))"""


def test_a_host_loads_more_tenants_than_the_instance_pool_has_slots(tmp_path):
    # A few slots are held by instances made around the host (wasmtime-py on
    # the same engine), which its ledger does not count: wasmtime refuses
    # before the ledger is full, and that refusal makes room the same way.
    eng = engine.shared()
    store = wasmtime.Store(eng.wasmtime)
    outside = [wasmtime.Instance(store, wasmtime.Module(eng.wasmtime, "(module (memory 1))"), [])
               for _ in range(4)]
    tenants = [wat_tenant(OK, name=f"many-{i}", tmp=tmp_path)
               for i in range(engine.POOL_INSTANCES + 8)]
    assert all(t.call("ok").status == 0 for t in tenants)
    assert slot_stats(eng)["evicted"] > 0  # idle ones made room
    del outside


def test_one_tenants_concurrency_cannot_take_every_instance_slot(tmp_path):
    hog = wat_tenant(SPIN, name="hog", tmp=tmp_path)
    fresh = wat_tenant(OK, name="fresh-neighbour", tmp=tmp_path, instance="fresh")
    # One instance per call in flight: holding them here stands for the hog's
    # requests that are all running at once (slow handlers, many clients).
    held = []
    try:
        for _ in range(engine.POOL_INSTANCES):
            try:
                held.append(hog.instance())
            except TenantTrap:
                break  # the hog itself is refused once the pool is dry
        assert fresh.call("ok").status == 0
    finally:
        held.clear()


def test_past_its_share_a_tenant_is_refused_and_its_neighbour_is_not(tmp_path):
    t = wat_tenant(OK, name="greedy", tmp=tmp_path, limits={"instances": 2})
    neighbour = wat_tenant(OK, name="neighbour", tmp=tmp_path)
    a = t.instance()  # its share: the idle warm instance from the load, and this one
    b = t.instance()  # past it with one idle: its own idle instance makes room
    assert t.pool_stats()["evicted"] == 1
    with pytest.raises(InstanceLimit) as ei:
        t.instance()
    assert ei.value.kind == "instances" and "limits.instances" in str(ei.value)
    with pytest.raises(InstanceLimit) as ei:
        t.call("ok")
    assert ei.value.export == "ok" and "\n" not in str(ei.value)
    assert neighbour.call("ok").status == 0
    a.close()  # a call returned: the tenant runs again
    assert t.call("ok").status == 0
    b.close()


@pytest.fixture
def small_engine():
    """A pooled engine whose ledger counts only 4 slots (wasmtime's are more):
    the eviction order shows after a handful of tenants."""
    with engine.Engine(tick_us=0) as eng:
        lib.eh_slots_declare(eng.ptr, 4)
        yield eng


def test_idle_instances_make_room_least_recently_used_first(tmp_path, small_engine):
    a, b, c, d = (wat_tenant(OK, name=n, tmp=tmp_path, engine=small_engine) for n in "abcd")
    assert slot_stats(small_engine)["live"] == 4  # each keeps its warm instance
    e = wat_tenant(OK, name="e", tmp=tmp_path, engine=small_engine)
    assert [x.pool_stats()["evicted"] for x in (a, b, c, d, e)] == [1, 0, 0, 0, 0]
    assert b.call("ok").status == 0  # b's warm instance is now the most recent
    f = wat_tenant(OK, name="f", tmp=tmp_path, engine=small_engine)
    assert [x.pool_stats()["evicted"] for x in (a, b, c, d, e, f)] == [1, 0, 1, 0, 0, 0]
    assert a.call("ok").status == 0  # evicted: a new instance, d's makes room
    assert [x.pool_stats()["evicted"] for x in (a, b, c, d, e, f)] == [1, 0, 1, 1, 0, 0]
    st = slot_stats(small_engine)
    assert (st["capacity"], st["live"], st["evicted"]) == (4, 4, 3)
    for x in (a, b, c, d, e, f):
        x.close()
    assert slot_stats(small_engine)["live"] == 0


def test_with_every_slot_in_use_by_calls_a_new_instance_is_a_clear_error(tmp_path,
                                                                         small_engine):
    tenants = [wat_tenant(OK, name=f"busy-{i}", tmp=tmp_path, engine=small_engine)
               for i in range(4)]
    held = [t.instance() for t in tenants]  # each evicts an idle one: 4 in use
    with pytest.raises(InstanceLimit) as ei:
        wat_tenant(OK, name="late", tmp=tmp_path, engine=small_engine)
    assert ei.value.kind == "slots" and "all 4 instance slots" in str(ei.value)
    held.pop().close()
    late = wat_tenant(OK, name="late", tmp=tmp_path, engine=small_engine)
    assert late.call("ok").status == 0
    for x in held:
        x.close()


def test_tenants_racing_for_few_slots_leak_none(tmp_path, small_engine):
    """8 threads, each calling its own tenant (half of them a fresh instance
    per call; half closed midway), on 4 slots: a call either answers or finds
    every slot busy (InstanceLimit "slots"), a closed one says so, and no
    instance or slot leaks."""
    tenants = [wat_tenant(BUSY, name=f"race-{i}", tmp=tmp_path, engine=small_engine)
               for i in range(4)]
    tenants += [wat_tenant(BUSY, name=f"race-{i}", tmp=tmp_path, engine=small_engine,
                           instance="fresh") for i in range(4, 8)]
    outcomes: list[list[str]] = [[] for _ in tenants]

    def work(i):
        for n in range(300):
            if n == 250 and i % 2:
                tenants[i].close()  # retired while the others keep calling
            try:
                outcomes[i].append("ok" if tenants[i].call("ok").status == 0 else "bad")
            except InstanceLimit as exc:
                outcomes[i].append(exc.kind)
            except TenantClosed:
                outcomes[i].append("closed")

    assert run_threads(len(tenants), work) == []
    seen = {o for per in outcomes for o in per}
    assert seen <= {"ok", "slots", "closed"} and "ok" in seen
    assert all(per[250:] == ["closed"] * 50 for per in outcomes[1::2])
    idle = sum(t.pool_stats()["idle"] for t in tenants)
    assert slot_stats(small_engine)["live"] == idle <= 4
    for t in tenants:
        t.close()
    assert slot_stats(small_engine)["live"] == 0


def _snapshot_state(srv, tenant: str) -> str | None:
    versions = json.loads(get(srv.admin_port, "/status")[2])["versions"]
    return (versions.get(tenant, {}).get("snapshot") or {}).get("state")


@pytest.mark.toolchain
def test_over_http_a_tenant_past_its_share_gets_a_503_and_a_log_line(tmp_path, c_toolchain):
    root = build_tenants(tmp_path, ["abuse"], ["hello-c"])
    man = root / "abuse" / "edgehost.toml"
    man.write_text(man.read_text().replace("concurrency = 1", "concurrency = 2\ninstances = 1")
                   .replace("deadline_ms = 200", "deadline_ms = 5000"))
    with Server(root / "abuse", root / "hello-c", threads=4) as srv:
        # The share is per loaded version: wait until the snapshot form
        # (a second version, host/reload/worker_side.py) has taken over.
        assert wait_for(lambda: _snapshot_state(srv, "abuse") in ("live", "declined"))
        spinning = threading.Thread(target=get, args=(srv.port, "/abuse/spin"))
        spinning.start()
        try:
            assert wait_for(lambda: metric(srv.metrics(), "edgehost_running_handlers",
                                           tenant="abuse") >= 1)
            # A second call needs a second instance: past the share of 1.
            status, hdrs, body = get(srv.port, "/abuse/fail")
            assert status == 503
            rid = hdrs["x-request-id"]
            assert rid.encode() in body and b"instance limit" in body
            lines = wait_for(lambda: [ln for ln in srv.log_lines()
                                      if ln.get("request_id") == rid])
            assert lines and lines[0]["cause"] == "share" and lines[0]["status"] == 503
            assert lines[0]["tenant"] == "abuse" and lines[0]["level"] == "error"
            assert get(srv.port, "/hello-c/hello")[0] == 200  # the neighbour is served
        finally:
            spinning.join()
