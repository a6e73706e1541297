"""One owner per native handle: tenants, instances and engines close
deterministically, refuse use after close with one clear error, and a
version retired while a call is in flight lets that call finish."""

from __future__ import annotations

import gc
import struct
import threading
import weakref

import pytest
import wasmtime

from edgehost.errors import TenantClosed
from edgehost.runtime.engine import Engine
from edgehost.runtime.tenant import Tenant
from edgehost.wasm_config import manifest as manifest_mod
from tests.support import (
    HOSTAPI_HANDLERS,
    HOSTAPI_IMPORTS,
    hostapi_tenant,
    ints,
    wait_for,
    wat_tenant,
)


def test_close_is_idempotent_and_use_after_close_is_one_clear_error(tmp_path):
    t = hostapi_tenant(tmp_path, name="closing")
    assert t.call("nop").status == 0
    t.close()
    t.close()
    assert t.closed
    for use in (lambda: t.call("nop"), t.instance, lambda: t.native, t.kv_stats):
        with pytest.raises(TenantClosed) as ei:
            use()
        assert str(ei.value) == "tenant 'closing': this version is closed"


def test_context_managers(tmp_path):
    with hostapi_tenant(tmp_path, name="ctx") as t:
        with t.instance() as inst:
            fast = inst.bind("nop")
            assert fast(4096, 0) == 0
        assert inst.closed
        with pytest.raises(TenantClosed, match="instance already closed"):
            fast(4096, 0)
        with pytest.raises(TenantClosed, match="instance already closed"):
            inst.call_raw("nop", 0, 0)
    assert t.closed


def test_engine_close(tmp_path):
    with Engine(pooling=False, tick_us=0) as eng:
        assert not eng.closed
    assert eng.closed
    with pytest.raises(Exception, match="engine already closed"):
        eng.compile(wasmtime.wat2wasm("(module)"))


def test_a_call_in_flight_finishes_on_the_retired_version(tmp_path):
    t = hostapi_tenant(tmp_path, name="in-flight")
    native = weakref.ref(t._native)
    started, result = threading.Event(), {}

    def call():
        started.set()
        result["span"] = struct.unpack("<qq", t.call("busy", ints(300)).body)

    th = threading.Thread(target=call)
    th.start()
    started.wait()
    # In flight = holding its instance (taken in C, with the GIL released).
    assert wait_for(lambda: "span" in result or t.pool_stats()["idle"] == 0)
    t.close()  # while the busy call runs
    th.join()
    assert result["span"][1] > result["span"][0]  # it ran to the end
    with pytest.raises(TenantClosed):
        t.call("nop")
    t = None
    gc.collect()
    assert native() is None  # its instance came back and freed the native tenant


def test_instances_do_not_hold_their_tenant(tmp_path):
    """No Instance <-> Tenant cycle: dropping the last reference frees the
    version at once, reference counting alone (the collector is off)."""
    gc.collect()
    gc.disable()
    try:
        t = hostapi_tenant(tmp_path, name="no-cycle")
        t.call("nop")
        tenant_ref, native_ref = weakref.ref(t), weakref.ref(t._native)
        del t
        assert tenant_ref() is None and native_ref() is None
    finally:
        gc.enable()


def test_an_instance_outliving_its_tenant_keeps_the_native_state(tmp_path):
    t = hostapi_tenant(tmp_path, name="outlive")
    inst = t.instance()
    t.close()
    assert inst.call_raw("nop", 4096, 0)[0] == 0  # still valid: it holds the version
    inst.close()
    with pytest.raises(TenantClosed):
        _ = t.native


def test_a_failed_load_frees_what_it_made(tmp_path):
    body = HOSTAPI_IMPORTS + HOSTAPI_HANDLERS + """
      (func (export "edgehost_configure") (result i32) (i32.const 3))"""
    with pytest.raises(Exception, match="refused its configuration"):
        wat_tenant(body, name="refuses", tmp=tmp_path)


def test_engine_mismatch_is_a_config_error(tmp_path):
    man = manifest_mod.from_dict({"name": "fuelled", "limits": {"fuel": 1000}},
                                 tmp_path / "edgehost.toml")
    with Engine(pooling=False, tick_us=0) as eng, pytest.raises(Exception, match="fuel"):
        Tenant(man, wasm=wasmtime.wat2wasm("(module)"), engine=eng)


@pytest.mark.kvm
def test_each_version_owns_its_guest_whatever_its_name(tmp_path):
    a = hostapi_tenant(tmp_path, name="same", isolation="kvm", kernels=["crc32c"])
    b = hostapi_tenant(tmp_path, name="same", isolation="kvm", kernels=["crc32c"],
                       limits={"deadline_ms": 900})
    assert a.guest is not b.guest
    assert (a.guest.time_limit_ms, b.guest.time_limit_ms) == (1000, 900)
    assert a.call("crc", b"123456789").body == b.call("crc", b"123456789").body
    guest = a.guest
    a.close()
    with pytest.raises(Exception, match="closed"):
        _ = guest.handle
    assert b.call("crc", b"x").status == 0
    b.close()
