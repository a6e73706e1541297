"""The process-wide wasmtime engine, configured for the data plane.

wasmtime-py owns the control-plane objects (Config, Engine, Module: compile,
introspect, free); the data plane (linkers with C host functions, stores,
calls) runs in native_modules/wasmhost over the same library instance. The
settings wasmtime-py does not expose -- the pooling allocator, epoch
interruption -- are applied to its Config through the C API before the
Engine is created.

One Engine per process (per fuel setting): the pooling allocator reserves
address space up front, so engines are shared, never created per tenant.
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

TICK_US = 1000  # epoch period: deadlines are counted in milliseconds
POOL_INSTANCES = 128
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
    """A wasmtime engine with epoch interruption, optional fuel and pooling."""

    def __init__(self, *, fuel: bool = False, pooling: bool = True):
        bind_wasmtime()
        cfg = wasmtime.Config()
        cfg.cranelift_opt_level = "speed"
        lib.eh_config_tune(native_ptr(cfg), 1, int(fuel), POOL_INSTANCES if pooling else 0,
                           POOL_MAX_MEMORY, POOL_KEEP_RESIDENT)
        self.fuel = fuel
        self.pooling = pooling
        self.wasmtime = wasmtime.Engine(cfg)
        self.ptr = native_ptr(self.wasmtime)
        self._ticker = lib.eh_ticker_start(self.ptr, TICK_US)
        if self._ticker == ffi.NULL:
            raise EdgehostError("cannot start the epoch ticker thread")

    @property
    def settings(self) -> str:
        """What this engine compiles for, as the module cache keys it."""
        return f"opt=speed epoch=1 fuel={int(self.fuel)} pooling={int(self.pooling)}"

    def compile(self, wasm: bytes, *, sha256: str | None = None) -> wasmtime.Module:
        """Compile (and validate the encoding of) a module, through the
        on-disk module cache (:mod:`edgehost.runtime.module_cache`)."""
        from edgehost.runtime import module_cache

        return module_cache.shared().compile(self.wasmtime, wasm, self.settings, sha256=sha256)

    def close(self) -> None:
        if self._ticker is not None:
            lib.eh_ticker_stop(self._ticker)
            self._ticker = None


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
