"""A loaded tenant: its validated module, native state and instance pool.

Concurrency model: an instance (one wasmtime store) is used by one thread at
a time. Each tenant keeps a pool of idle instances; a call takes one (or
instantiates a new one from the pre-linked module), runs with the GIL
released, and returns it. So two calls -- of one tenant or of two -- run on
two cores at once. An instance that trapped is dropped, never reused; with
``instance = "fresh"`` every call gets a new instance.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import stat
import threading

import msgpack

from edgehost import isolation, state
from edgehost.errors import ConfigError, ExportNotFound, StoreUnavailable, TenantError, TenantTrap
from edgehost.native import ffi, kernels_lib, lib
from edgehost.runtime import engine as engine_mod
from edgehost.wasm_config import abi, validate
from edgehost.wasm_config import manifest as manifest_mod

log = logging.getLogger("edgehost.tenant")

TRAP_KINDS = {0: "ok", 1: "trap", 2: "deadline", 3: "fuel", 4: "memory", 5: "error",
              6: "store"}
LOG_LEVEL_NAMES = {v: k for k, v in abi.LOG_LEVELS.items()}
POOL_MAX_IDLE = 8


@dataclasses.dataclass
class Response:
    """What a handler produced."""

    status: int                     # the handler's return value (0 = ok)
    http_status: int                # set with response_set_status (default 200)
    headers: list[tuple[str, str]]
    body: bytes


class Instance:
    """One instance (one wasmtime store); owned by a single thread while in use."""

    def __init__(self, tenant: Tenant):
        err = ffi.new("char[512]")
        ptr = lib.eh_instance_new(tenant.native, err, 512)
        if ptr == ffi.NULL:
            raise TenantTrap(tenant.name, "instantiate", ffi.string(err).decode(errors="replace"))
        self.ptr = ffi.gc(ptr, lib.eh_instance_free)
        self.tenant = tenant
        self._exports: dict[str, int] = {}
        self._status = ffi.new("int32_t *")
        self._kind = ffi.new("int *")
        self._http = ffi.new("int32_t *")
        self._blen = ffi.new("uint32_t *")
        self._hdrs = ffi.new("const char **")
        self._hlen = ffi.new("uint32_t *")

    def export_index(self, name: str) -> int:
        idx = self._exports.get(name)
        if idx is None:
            idx = lib.eh_instance_export(self.ptr, name.encode())
            if idx < 0:
                raise ExportNotFound(self.tenant.name, name, self.tenant.handlers)
            self._exports[name] = idx
        return idx

    def bind(self, export: str):
        """A fast caller for ``export``: ``f(*int_args) -> first result``.

        The export is resolved and the argument buffer allocated once, so a
        call is one cffi call into wasmtime_func_call_unchecked (GIL released).
        """
        idx = self.export_index(export)
        vals = ffi.new("uint64_t[8]")
        call = lib.eh_instance_call
        ptr = self.ptr

        def fast(*args: int) -> int:
            for i, a in enumerate(args):
                vals[i] = a
            if call(ptr, idx, vals, max(len(args), 1)) < 0:
                raise self.error(export)
            return vals[0]

        return fast

    def error(self, export: str) -> TenantTrap:
        msg = ffi.string(lib.eh_instance_error(self.ptr, self._kind)).decode(errors="replace")
        if TRAP_KINDS.get(self._kind[0]) == "store":
            return StoreUnavailable(self.tenant.name, export, msg)
        return TenantTrap(self.tenant.name, export, msg, kind=TRAP_KINDS.get(self._kind[0], "trap"))

    def call_raw(self, export: str, *args: int) -> list[int]:
        """Call any export with integer arguments; returns the raw result slots."""
        vals = ffi.new("uint64_t[]", max(len(args), 1))
        for i, a in enumerate(args):
            vals[i] = a & 0xFFFFFFFFFFFFFFFF
        if lib.eh_instance_call(self.ptr, self.export_index(export), vals, max(len(args), 1)) < 0:
            raise self.error(export)
        return list(vals)

    def handle(self, export: str, method: bytes, path: bytes, query: bytes, headers: bytes,
               body: bytes) -> Response:
        """Run handler ``export`` on one request (headers: a msgpack map)."""
        idx = self.export_index(export)
        if lib.eh_instance_handle_parts(self.ptr, idx, method, len(method), path, len(path),
                                        query, len(query), headers, len(headers), body,
                                        len(body), self._status) < 0:
            raise self.error(export)
        blen, hlen = self._blen, self._hlen
        body = lib.eh_instance_response(self.ptr, self._http, blen, self._hdrs, hlen)
        data = ffi.buffer(body, blen[0])[:] if body != ffi.NULL else b""
        headers = []
        if hlen[0]:
            parts = ffi.buffer(self._hdrs[0], hlen[0])[:].split(b"\0")[:-1]
            headers = [(parts[i].decode(), parts[i + 1].decode("latin-1"))
                       for i in range(0, len(parts) - 1, 2)]
        return Response(self._status[0], self._http[0], headers, data)


_EMPTY_MAP = msgpack.packb({})


class Tenant:
    """A tenant loaded from its manifest and validated module. Its kv state
    lives in ``store`` (default: :func:`edgehost.state.default_store`), under
    its name, so a reloaded version finds it."""

    def __init__(self, man: manifest_mod.Manifest, wasm: bytes | None = None, *,
                 store: state.Store | None = None, guest_options: dict | None = None):
        self.manifest = man
        self.name = man.name
        data = wasm if wasm is not None else _read_wasm(man)
        fuel = man.limits["fuel"] > 0
        self.engine = engine_mod.shared(fuel=fuel)
        try:
            self.module = self.engine.compile(data)
        except Exception as exc:  # wasmtime.WasmtimeError: malformed or invalid binary
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"not a valid WebAssembly module: {first}",
                              path=str(man.wasm)) from None
        self.handlers = validate.check_module(self.module, where=str(man.wasm))
        for route, export in man.routes.items():
            if export not in self.handlers:
                raise ConfigError(f"route {route} names {export!r}, which is not a handler "
                                  f"export (handlers: {', '.join(self.handlers) or 'none'})",
                                  path=str(man.path), field=f"routes.{route}")
        self.isolation = isolation.resolve(man.isolation)
        kernels_lib()
        limits = ffi.new("eh_limits *")
        lim = man.limits
        limits.max_memory_bytes = lim["memory_mb"] << 20
        limits.deadline_ticks = max(1, lim["deadline_ms"] * 1000 // engine_mod.TICK_US)
        limits.deadline_ns = lim["deadline_ms"] * 1_000_000
        limits.fuel = lim["fuel"]
        limits.kv_max_bytes = lim["kv_max_bytes"]
        limits.kv_max_key = lim["kv_max_key"]
        limits.kv_max_value = lim["kv_max_value"]
        limits.log_per_sec = lim["log_per_sec"]
        limits.log_burst = max(1, lim["log_per_sec"])
        err = ffi.new("char[512]")
        ptr = lib.eh_tenant_new(self.engine.ptr, engine_mod.native_ptr(self.module),
                                self.name.encode(), limits, err, 512)
        if ptr == ffi.NULL:
            raise ConfigError(ffi.string(err).decode(errors="replace"), path=str(man.wasm))
        self.native = ffi.gc(ptr, lib.eh_tenant_free)
        self._attach_kv(store or state.default_store())
        self._set_config(man.config)
        mask = 1 << abi.KERNELS["nop"] | 1 << abi.KERNELS["crc32c"]
        for k in man.kernels:
            mask |= 1 << abi.KERNELS[k]
        lib.eh_tenant_set_kernels(self.native, mask)
        self._guest = None
        if self.isolation == "kvm":
            self._attach_guest(guest_options or {})
        self._log_buf = ffi.new("eh_log_entry[64]")
        self.log_dropped = 0
        self.log_lines = 0
        self._pool: list[Instance] = []
        self._lock = threading.Lock()
        self._closed = False
        # Instantiate once now: start-up failures and a refused configuration
        # surface at load time, not on the first request.
        self._release(self._new_instance())

    # -- configuration -------------------------------------------------------------
    def _set_config(self, config: dict) -> None:
        items = sorted((k.encode(), msgpack.packb(v)) for k, v in config.items())
        n = len(items)
        self._config_keep = items
        keys = ffi.new("char *[]", [ffi.from_buffer(k) for k, _ in items] or [ffi.NULL])
        vals = ffi.new("uint8_t *[]", [ffi.from_buffer(v) for _, v in items] or [ffi.NULL])
        klen = ffi.new("uint32_t[]", [len(k) for k, _ in items] or [0])
        vlen = ffi.new("uint32_t[]", [len(v) for _, v in items] or [0])
        self._config_cdata = (keys, vals)
        if lib.eh_tenant_set_config(self.native, n, keys, klen, vals, vlen) != 0:
            raise ConfigError("out of memory storing config", path=str(self.manifest.path))

    def _attach_kv(self, store: state.Store) -> None:
        max_key = self.manifest.limits["kv_max_key"]
        if max_key > store.max_key:
            raise ConfigError(f"{max_key} is more than the kv store {store.description} holds "
                              f"({store.max_key})", path=str(self.manifest.path),
                              field="limits.kv_max_key")
        with store.namespace(self.name, max_bytes=self.manifest.limits["kv_max_bytes"],
                             durable=self.manifest.durable) as ns:
            lib.eh_tenant_set_kv(self.native, ns.ptr)  # the tenant keeps its own reference
        self.store = store

    def _attach_guest(self, options: dict) -> None:
        from edgehost.isolation.guest import Guest

        # This tenant's own guest (closed with it): never shared by name.
        # options: further Guest settings (the server's idle spin, tests).
        self._guest = Guest(time_limit_ms=self.manifest.limits["deadline_ms"], **options)
        # Booted now, at load: a request never pays for (or waits behind) a
        # boot, and a guest that cannot start fails the load, not a request.
        self._guest.boot()
        lib.eh_tenant_set_guest(self.native, self._guest.handle)

    # -- instances -----------------------------------------------------------------
    def _new_instance(self) -> Instance:
        inst = Instance(self)
        if "edgehost_configure" in {e.name for e in self.module.exports}:
            rc = inst.call_raw("edgehost_configure")[0] & 0xFFFFFFFF
            if rc:
                raise ConfigError(f"tenant refused its configuration (edgehost_configure "
                                  f"returned {rc})", path=str(self.manifest.path))
        return inst

    def _acquire(self) -> Instance:
        if self.manifest.instance == "reuse":
            with self._lock:
                if self._pool:
                    return self._pool.pop()
        return self._new_instance()

    def _release(self, inst: Instance) -> None:
        if self.manifest.instance != "reuse":
            return
        with self._lock:
            if len(self._pool) < POOL_MAX_IDLE and not self._closed:
                self._pool.append(inst)

    # -- calls ---------------------------------------------------------------------
    def call(self, export: str, body: bytes = b"", *, method: str = "POST", path: str = "/",
             query: str = "", headers: dict[str, str] | None = None,
             check: bool = True) -> Response:
        """Run handler ``export`` on ``body``; raise TenantError for a non-zero status
        when ``check``, TenantTrap for a trap or a limit (the instance is discarded)."""
        if export in abi.RESERVED_EXPORTS or export not in self.handlers:
            raise ExportNotFound(self.name, export, self.handlers)
        hdrs = msgpack.packb({k.lower(): v for k, v in headers.items()}) if headers \
            else _EMPTY_MAP
        body = body if type(body) is bytes else bytes(body)
        inst = self._acquire()
        try:
            resp = inst.handle(export, method.encode(), path.encode(), query.encode(), hdrs, body)
        except TenantTrap as trap:
            fatal = [msg for level, msg in self.drain_logs() if level == "fatal"]
            if not fatal:
                raise
            raise TenantTrap(trap.tenant, trap.export, trap.message, kind=trap.kind,
                             fatal=fatal[-1]) from None
        self._release(inst)
        if lib.eh_tenant_log_pending(self.native):
            self.drain_logs()
        if check and resp.status != 0:
            raise TenantError(self.name, export, resp.status, resp.body[:200].decode(
                "utf-8", errors="replace"))
        return resp

    def instance(self) -> Instance:
        """A fresh instance for direct use (benchmarks, tests); caller owns it."""
        return self._new_instance()

    # -- observability -------------------------------------------------------------
    def drain_logs(self) -> list[tuple[str, str]]:
        """Move the tenant's log lines into Python logging; return them."""
        buf = self._log_buf
        dropped = ffi.new("uint64_t *")
        out = []
        while True:
            n = lib.eh_tenant_log_drain(self.native, buf, 64, dropped)
            for i in range(n):
                e = buf[i]
                level = LOG_LEVEL_NAMES.get(e.level, "info")
                msg = bytes(ffi.buffer(e.msg, e.len)).decode("utf-8", errors="replace")
                out.append((level, msg))
                self.log_lines += 1
                logging.getLogger(f"edgehost.tenant.{self.name}").log(
                    {"debug": 10, "info": 20, "warn": 30, "error": 40, "fatal": 50}[level], msg)
            if n < 64:
                break
        self.log_dropped = dropped[0]
        return out

    def kv_stats(self) -> tuple[int, int]:
        c, b = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        lib.eh_tenant_kv_stats(self.native, c, b)
        return c[0], b[0]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pool.clear()
        if self._guest is not None:
            self._guest.close()  # the native tenant keeps it until it is freed


MAX_MODULE_BYTES = 256 << 20


def _read_wasm(man: manifest_mod.Manifest) -> bytes:
    """The module's bytes. The file is tenant-supplied: only a regular file of
    at most MAX_MODULE_BYTES is read (a FIFO would block the loader forever,
    a link to /dev/zero would never end)."""
    try:
        fd = os.open(man.wasm, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError("module not built yet; run: edgehost build "
                          f"{man.directory}", path=str(man.wasm)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read module: {exc.strerror}", path=str(man.wasm)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ConfigError("module is not a regular file", path=str(man.wasm))
    if st.st_size > MAX_MODULE_BYTES:
        os.close(fd)
        raise ConfigError(f"module is {st.st_size} bytes, more than the "
                          f"{MAX_MODULE_BYTES} allowed", path=str(man.wasm))
    with os.fdopen(fd, "rb") as fh:
        try:
            return fh.read(MAX_MODULE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read module: {exc.strerror}",
                              path=str(man.wasm)) from None


def load(path: str | pathlib.Path) -> Tenant:
    """Load the tenant in directory ``path`` (its manifest and built module)."""
    return Tenant(manifest_mod.load(path))
