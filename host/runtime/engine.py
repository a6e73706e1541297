"""The process-wide wasmtime engine, configured for the data plane.

wasmtime-py owns the control-plane objects (Config, Engine, Module: compile,
introspect, free); the data plane (linkers with C host functions, stores,
calls) runs in native_modules/wasmhost over the same library instance. The
settings wasmtime-py does not expose -- the pooling allocator, epoch
interruption -- are applied to its Config through the C API before the
Engine is created.

One Engine per process (per fuel setting): the pooling allocator reserves
address space up front, so engines are shared, never created per tenant.
Each Engine owns its epoch ticker thread (1 ms): it only wakes the deadline
checks, which compare the monotonic clock with each call's wall deadline
(native_modules/wasmhost/instance.c). ``close()`` stops the ticker; the
shared engines are closed at exit.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import threading

import wasmtime
import wasmtime._ffi as _wt_ffi

from edgehost.errors import EdgehostError
from edgehost.native import ffi, lib

TICK_US = 1000  # epoch period: how often running calls check their wall deadline
# Instance slots of each pooled engine, shared by every tenant of the process
# (native_modules/wasmhost/slots.h: each tenant holds at most its
# limits.instances share; idle instances are evicted, least recently used
# first, when the slots run out). A slot reserves address space, never
# memory, for one linear memory: measured (Zen 3, wasmtime 50) 4.03 GiB of
# VmSize per slot, so 1024 slots reserve 4.0 TiB of the 128 TiB user address
# space and the engine takes 12 ms to make (5 ms with 128), RSS unchanged.
POOL_INSTANCES = 1024
POOL_MAX_MEMORY = 4 << 30
# Bytes of each freed pool slot's linear memory (and table) kept resident and
# reset in place (memset) rather than handed back to the kernel (madvise), so
# the next instance in the slot does not page-fault them in again. wasmtime
# resets the whole kept range on every free, dirty or not: measured here (Zen 3
# under PVM) a 1.3 MiB instance then costs ~300 us to free instead of ~3 us,
# while a page fault costs ~1.5-6 us. So 0 (the default) suits instances that
# touch little of their memory -- snapshots start from copy-on-write images --
# and ``EDGEHOST_POOL_KEEP_RESIDENT`` (bytes) suits hosts whose fresh instances
# take large bodies (see ``edgehost bench reload``).
POOL_KEEP_RESIDENT = int(os.environ.get("EDGEHOST_POOL_KEEP_RESIDENT", 0))

_bind_lock = threading.Lock()
_bound = False


def bind_wasmtime() -> None:
    """Resolve the wasmtime C API in native code (same library wasmtime-py loaded)."""
    global _bound
    if _bound:
        return
    with _bind_lock:
        if _bound:
            return
        err = ffi.new("char[512]")
        path = _wt_ffi.dll._name.encode()
        if lib.eh_wasmtime_bind(path, err, 512) != 0:
            raise EdgehostError(f"cannot bind the wasmtime C API: {ffi.string(err).decode()}")
        _bound = True


def native_ptr(obj) -> object:
    """The C pointer behind a wasmtime-py object, as a cffi ``void *``."""
    return ffi.cast("void *", ctypes.cast(obj.ptr(), ctypes.c_void_p).value)


class Engine:
    """A wasmtime engine with epoch interruption, optional fuel and pooling.

    ``tick_us`` is the ticker's period; 0 starts no ticker, and then only
    :meth:`tick` wakes the deadline checks (tests use that to play a starved
    ticker). The ticker asks for the lowest real-time priority (SCHED_FIFO 1)
    where the process may, so a saturated host delays the checks by no more
    than the calls' own scheduling; ``realtime_ticker=False`` (or
    ``EDGEHOST_RT_TICKER=0``) keeps it an ordinary thread."""

    def __init__(self, *, fuel: bool = False, pooling: bool = True, tick_us: int = TICK_US,
                 realtime_ticker: bool | None = None):
        bind_wasmtime()
        cfg = wasmtime.Config()
        cfg.cranelift_opt_level = "speed"
        lib.eh_config_tune(native_ptr(cfg), 1, int(fuel), POOL_INSTANCES if pooling else 0,
                           POOL_MAX_MEMORY, POOL_KEEP_RESIDENT)
        self.fuel = fuel
        self.pooling = pooling
        self.wasmtime = wasmtime.Engine(cfg)
        self.ptr = native_ptr(self.wasmtime)
        self.slots = POOL_INSTANCES if pooling else 0  # instance slots (0: not limited)
        lib.eh_slots_declare(self.ptr, self.slots)  # the ledger that evicts idle instances
        self._open = True
        if realtime_ticker is None:
            realtime_ticker = os.environ.get("EDGEHOST_RT_TICKER", "1") != "0"
        self._ticker = (lib.eh_ticker_start(self.ptr, tick_us, int(realtime_ticker))
                        if tick_us else None)
        if self._ticker == ffi.NULL:
            raise EdgehostError("cannot start the epoch ticker thread")

    def tick(self) -> None:
        """One epoch tick by hand: running calls check their deadlines."""
        self.wasmtime.increment_epoch()

    @property
    def settings(self) -> str:
        """What this engine compiles for, as the module cache keys it."""
        return f"opt=speed epoch=1 fuel={int(self.fuel)} pooling={int(self.pooling)}"

    def compile(self, wasm: bytes, *, sha256: str | None = None) -> wasmtime.Module:
        """Compile (and validate the encoding of) a module, through the
        on-disk module cache (:mod:`edgehost.runtime.module_cache`)."""
        from edgehost.runtime import module_cache

        if not self._open:
            raise EdgehostError("engine already closed")
        return module_cache.shared().compile(self.wasmtime, wasm, self.settings, sha256=sha256)

    @property
    def closed(self) -> bool:
        return not self._open

    def close(self) -> None:
        """Stop the ticker thread (idempotent); calls on this engine then have
        no deadline checks, so close an engine only when its tenants are gone."""
        self._open = False
        if self._ticker is not None:
            lib.eh_ticker_stop(self._ticker)
            self._ticker = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_engines: dict[tuple[bool, bool], Engine] = {}
_engines_lock = threading.Lock()


@atexit.register
def _stop_tickers() -> None:
    # Tickers touch their engine from another thread: stop them before
    # interpreter teardown frees the engines.
    with _engines_lock:
        for eng in _engines.values():
            eng.close()


def shared(*, fuel: bool = False, pooling: bool = True) -> Engine:
    """The process's engine for this setting, created on first use."""
    key = (fuel, pooling)
    with _engines_lock:
        eng = _engines.get(key)
        if eng is None:
            eng = _engines[key] = Engine(fuel=fuel, pooling=pooling)
        return eng
