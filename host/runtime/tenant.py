"""A loaded tenant version: its validated module, native state and instance pool.

Concurrency model: an instance (one wasmtime store) is used by one thread at
a time. Each tenant version keeps a pool of idle instances (a native
``eh_pool``, the same as the HTTP server's, native_modules/wasmhost/pool.h);
a call takes one (or instantiates a new one from the pre-linked module),
runs with the GIL released, and returns it. So two calls -- of one tenant or
of two -- run on two cores at once. An instance that trapped is dropped,
never reused; with ``instance = "fresh"`` every call gets a new instance --
or, for a version started from a write-tracking snapshot (``write_tracked``,
as :func:`load`, hot reload and ``edgehost serve`` make them), a used one put
back in place.

Instance slots (native_modules/wasmhost/slots.h): the process's engine has
``engine.POOL_INSTANCES`` slots, shared by every tenant. A tenant holds at
most its ``limits.instances`` share of them alive at once (default
1/:data:`SHARE_FRACTION` of the slots, at most 1/:data:`MAX_SHARE_FRACTION`):
past it, one of its own idle instances is freed, and with none idle the call
fails with :class:`~edgehost.errors.InstanceLimit` instead of taking a
neighbour's slot. When the slots run out, the least recently used idle
instance of any tenant is freed, so idle warm instances never pin slots and
a process loads more tenants than it has slots.

Ownership (one Python owner per native handle, freed deterministically):

- :class:`Tenant` owns one *version* of a tenant: the compiled module, the
  native ``eh_tenant`` and, with KVM isolation, a use of a KVM guest
  (:class:`_GuestUse`), all held by a :class:`_Native` record, plus its
  instance pool. A guest is never shared with another tenant, whatever the
  names; a version that hot reload makes from the live one with the same
  module and guest settings (a ``[config]`` change) runs its kernels in the
  live version's guest (``Tenant(guest_of=...)``: the guest holds no tenant
  configuration -- that lives in the native tenant -- and no data between
  calls of one tenant and another), and the last version using a guest
  closes it.
- Every :class:`Instance` (``tenant.instance()``) owns one native
  ``eh_instance`` and holds a reference on the :class:`_Native` record
  (never on the Tenant: no cycle).
- The Tenant owns its pool (``eh_pool``); calls take instances from it
  without touching reference counts. Closing retires the pool (it frees its
  idle instances and refuses new calls), and the Tenant's reference on the
  :class:`_Native` record goes once no pooled instance is out: at once, or
  when the last call in flight gives its instance back (``eh_pool_retire``
  says which). The pool's own memory goes with the Tenant object.
- :meth:`Tenant.close` retires the version: new calls raise
  :class:`~edgehost.errors.TenantClosed`, idle instances are freed at once,
  calls in flight finish on the old version and free their instance when
  they return; when the last instance is gone, the native tenant and the
  guest are freed. Hot reload replaces a version this way.
- Every owner has ``close()``, is a context manager, raises a clear error
  when used after close, and is freed by a finalizer if it is only dropped.
"""

from __future__ import annotations

import dataclasses
import http
import logging
import pathlib
import threading
import weakref

import msgpack

from edgehost import isolation, state
from edgehost.errors import (
    ConfigError,
    ExportNotFound,
    InstanceLimit,
    StoreUnavailable,
    TenantClosed,
    TenantError,
    TenantTrap,
)
from edgehost.native import ffi, kernels_lib, lib
from edgehost.runtime import engine as engine_mod
from edgehost.wasm_config import abi, validate
from edgehost.wasm_config import manifest as manifest_mod
from edgehost.wasm_config.files import read_regular

log = logging.getLogger("edgehost.tenant")

LOG_LEVEL_NAMES = {v: k for k, v in abi.LOG_LEVELS.items()}
_PY_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40, "fatal": 50}
POOL_MAX_IDLE = 8
_WASM_PAGE = 65536
# A tenant's default share of the process's instance slots, and the most it
# may ask for (limits.instances): no single tenant can hold more than half of
# the slots, so its neighbours always keep the other half.
SHARE_FRACTION = 8
MAX_SHARE_FRACTION = 2


def _trap_kinds() -> dict[int, str]:
    """enum eh_trap_kind (wasmhost/hostapi.h, read through cffi) -> TenantTrap.kind."""
    return {lib.EH_TRAP_NONE: "ok", lib.EH_TRAP_TRAP: "trap", lib.EH_TRAP_DEADLINE: "deadline",
            lib.EH_TRAP_FUEL: "fuel", lib.EH_TRAP_MEMORY: "memory", lib.EH_TRAP_ERROR: "error",
            lib.EH_TRAP_STORE: "store", lib.EH_TRAP_INSTANCES: "instances",
            lib.EH_TRAP_SLOTS: "slots", lib.EH_TRAP_REFUSED: "refused",
            lib.EH_TRAP_CLOSED: "closed"}


TRAP_KINDS = _trap_kinds()


def instance_share(man: manifest_mod.Manifest, slots: int) -> int:
    """The most instances the tenant of ``man`` may hold alive at once on an
    engine with ``slots`` instance slots (0: not pooled, no process limit):
    its ``limits.instances``, or 1/SHARE_FRACTION of the slots when that is 0.
    A share over 1/MAX_SHARE_FRACTION of the slots is a ConfigError."""
    asked = man.limits["instances"]
    pool = slots or engine_mod.POOL_INSTANCES
    if asked == 0:
        return max(1, pool // SHARE_FRACTION)
    if slots and asked > slots // MAX_SHARE_FRACTION:
        raise ConfigError(f"{asked} is more than half of this process's {slots} instance slots "
                          f"(at most {slots // MAX_SHARE_FRACTION})", path=str(man.path),
                          field="limits.instances")
    return asked


def slot_stats(engine: engine_mod.Engine) -> dict[str, int]:
    """The instance slots of ``engine``: capacity (0: not pooled), live
    instances, idle instances evicted to make room, instances refused."""
    st = ffi.new("eh_slots_stats *")
    lib.eh_slots_get_stats(engine.ptr, st)
    return {"capacity": st.capacity, "live": st.live, "evicted": st.evicted,
            "refused": st.refused}


def _no_instance(name: str, man: manifest_mod.Manifest, kind: int, message: str,
                 export: str = "instantiate") -> Exception:
    """The typed error for an instance that could not be made (``kind``:
    enum eh_trap_kind from eh_instance_new / eh_pool_acquire)."""
    what = TRAP_KINDS.get(kind, "error")
    if what in ("instances", "slots"):
        return InstanceLimit(name, export, message, kind=what)
    if what == "refused":
        return ConfigError(message, path=str(man.path))
    return TenantTrap(name, "instantiate", message, kind="trap" if what == "error" else what)


@dataclasses.dataclass
class Response:
    """What a handler produced."""

    status: int                     # the handler's return value (0 = ok)
    http_status: int                # set with response_set_status (default 200)
    headers: list[tuple[str, str]]
    body: bytes

    def head(self) -> str:
        """The status line and headers as HTTP/1.1 text, ending in the blank line."""
        try:
            reason = http.HTTPStatus(self.http_status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {self.http_status} {reason}".rstrip()]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return "\r\n".join(lines) + "\r\n\r\n"


class _Native:
    """The native half of one tenant version: the ``eh_tenant`` and its guest.

    Reference counted: the Tenant holds one reference until it is closed and
    every Instance holds one while it lives; the last release frees the
    native tenant, then leaves its guest, closed by the guest's last user
    (instances tell the guest to forget their memory when they are freed,
    so it must outlive them)."""

    def __init__(self, ptr, name: str, handlers: list[str], limits: dict[str, int]):
        self._ptr = ptr
        self.name, self.handlers, self.limits = name, handlers, limits
        self.guest_use: _GuestUse | None = None
        self._refs = 1
        self._lock = threading.Lock()

    @property
    def guest(self):
        """The KVM guest this version's kernels run in (None: in process, or freed)."""
        use = self.guest_use
        return use.guest if use is not None else None

    @property
    def ptr(self):
        ptr = self._ptr
        if ptr is None:
            raise TenantClosed(self.name)
        return ptr

    def acquire(self) -> None:
        with self._lock:
            if self._refs == 0:
                raise TenantClosed(self.name)
            self._refs += 1

    def release(self) -> None:
        with self._lock:
            self._refs -= 1
            if self._refs:
                return
            ptr, self._ptr = self._ptr, None
            use, self.guest_use = self.guest_use, None
        lib.eh_tenant_free(ptr)   # drops the native tenant's own hold on the VM
        if use is not None:
            use.leave()


class _GuestUse:
    """One KVM guest and the versions of one tenant that run their kernels
    in it (see the module docstring): each :class:`_Native` using it holds
    one use; the last to leave closes the guest. ``settings``: the Guest
    keyword arguments it was made with (a version joins only a guest made
    as it would make its own)."""

    def __init__(self, guest, tenant: str, settings: dict):
        self.guest, self.tenant, self.settings = guest, tenant, settings
        self._users = 1
        self._lock = threading.Lock()

    def join(self) -> bool:
        """One more user; False once the guest is closed or its last user left."""
        with self._lock:
            if self._users == 0 or self.guest.closed:
                return False
            self._users += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users:
                return
        self.guest.close()


def _free_instance(ptr, native: _Native) -> None:
    lib.eh_instance_free(ptr)
    native.release()


class Instance:
    """One instance (one wasmtime store) of a tenant version; used by a single
    thread at a time. ``close()`` frees it (also a context manager); using it
    afterwards raises :class:`~edgehost.errors.TenantClosed`."""

    def __init__(self, native: _Native, man: manifest_mod.Manifest):
        native.acquire()
        err, kind = ffi.new("char[512]"), ffi.new("int *")
        ptr = lib.eh_instance_new(native.ptr, kind, err, 512)
        if ptr == ffi.NULL:
            native.release()
            raise _no_instance(native.name, man, kind[0], ffi.string(err).decode(errors="replace"))
        self._ptr = ptr
        self._native = native
        self._finalizer = weakref.finalize(self, _free_instance, ptr, native)
        self._finalizer.atexit = False  # the process is going: nothing to free
        self._exports: dict[str, int] = {}
        self._buf = _CallBuffers()  # its calls' output buffers (one thread at a time)

    # -- lifetime -------------------------------------------------------------------
    @property
    def ptr(self):
        """The native ``eh_instance *`` (raises TenantClosed once closed)."""
        ptr = self._ptr
        if ptr is None:
            raise TenantClosed(self._native.name, "instance already closed")
        return ptr

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Free the native instance now (idempotent)."""
        self._ptr = None
        self._finalizer()

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------
    def export_index(self, name: str) -> int:
        idx = self._exports.get(name)
        if idx is None:
            idx = lib.eh_instance_export(self.ptr, name.encode())
            if idx == lib.EH_EXPORT_NO_MEMORY:
                raise MemoryError(f"cannot record export {name!r}")
            if idx < 0:
                raise ExportNotFound(self._native.name, name, self._native.handlers)
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

        def fast(*args: int) -> int:
            ptr = self._ptr
            if ptr is None:
                raise TenantClosed(self._native.name, "instance already closed")
            for i, a in enumerate(args):
                vals[i] = a
            if call(ptr, idx, vals, max(len(args), 1)) < 0:
                raise self.error(export)
            return vals[0]

        return fast

    def error(self, export: str) -> TenantTrap:
        """The TenantTrap for the call that just failed: which limit was hit
        (``deadline_ms=50 exceeded``), else the trap's message without the
        wasm backtrace."""
        return _call_error(self.ptr, self._native, export, self._buf.kind, self._buf.size)

    def call_raw(self, export: str, *args: int) -> list[int]:
        """Call any export with integer arguments; returns the raw result slots."""
        vals = ffi.new("uint64_t[]", max(len(args), 1))
        for i, a in enumerate(args):
            vals[i] = a & 0xFFFFFFFFFFFFFFFF
        if lib.eh_instance_call(self.ptr, self.export_index(export), vals,
                                max(len(args), 1)) < 0:
            raise self.error(export)
        return list(vals)

    def handle(self, export: str, method: bytes, path: bytes, query: bytes, headers: bytes,
               body: bytes) -> Response:
        """Run handler ``export`` on one request (headers: a msgpack map)."""
        idx = self.export_index(export)
        ptr = self._ptr
        if lib.eh_instance_handle_parts(ptr, idx, method, len(method), path, len(path),
                                        query, len(query), headers, len(headers), body,
                                        len(body), self._buf.status) < 0:
            raise self.error(export)
        b = self._buf
        return _response(ptr, b.status, b.http, b.blen, b.hdrs, b.hlen)


def _call_error(ptr, native: _Native, export: str, kind_buf, size_buf) -> TenantTrap:
    """The TenantTrap for the call of ``export`` on instance ``ptr`` that just
    failed (see :meth:`Instance.error`); the buffers are the caller's."""
    # One line already: the cause without wasmtime's backtrace (instance.c).
    raw = ffi.string(lib.eh_instance_error(ptr, kind_buf)).decode(errors="replace")
    kind = TRAP_KINDS.get(kind_buf[0], "trap")
    if kind == "store":
        return StoreUnavailable(native.name, export, raw)
    lim = native.limits
    text = raw.strip().removeprefix("wasm trap: ") or kind
    if kind == "deadline":
        late = lib.eh_instance_deadline_overshoot_ns(ptr) / 1e6
        text = f"deadline_ms={lim['deadline_ms']} exceeded (stopped {late:.1f} ms after it)"
    elif kind == "fuel":
        text = f"fuel={lim['fuel']} exhausted"
    elif kind == "memory":
        text = f"memory_mb={lim['memory_mb']} exceeded ({text})"
    elif kind == "trap":
        lib.eh_instance_memory(ptr, size_buf)
        if size_buf[0] + _WASM_PAGE > lim["memory_mb"] << 20:
            text += f" (memory_mb={lim['memory_mb']} reached: memory cannot grow)"
    return TenantTrap(native.name, export, text, kind=kind)


def _response(ptr, status, http, blen, hdrs, hlen) -> Response:
    """The Response of the call that just succeeded on instance ``ptr``
    (the other arguments: the call's output buffers)."""
    body = lib.eh_instance_response(ptr, http, blen, hdrs, hlen)
    data = ffi.buffer(body, blen[0])[:] if body != ffi.NULL else b""
    headers = []
    if hlen[0]:
        parts = ffi.buffer(hdrs[0], hlen[0])[:].split(b"\0")[:-1]
        headers = [(parts[i].decode(), parts[i + 1].decode("latin-1"))
                   for i in range(0, len(parts) - 1, 2)]
    return Response(status[0], http[0], headers, data)


class _CallBuffers:
    """Output buffers of calls: one set per thread for calls on pooled
    instances (:func:`_call_buffers`), one per directly used Instance."""

    __slots__ = ("status", "kind", "http", "blen", "hdrs", "hlen", "size", "err")

    def __init__(self):
        self.status = ffi.new("int32_t *")
        self.kind = ffi.new("int *")
        self.http = ffi.new("int32_t *")
        self.blen = ffi.new("uint32_t *")
        self.hdrs = ffi.new("const char **")
        self.hlen = ffi.new("uint32_t *")
        self.size = ffi.new("uint64_t *")
        self.err = ffi.new("char[512]")


_tls = threading.local()


def _call_buffers() -> _CallBuffers:
    """This thread's _CallBuffers (made on its first call)."""
    try:
        return _tls.buffers
    except AttributeError:
        b = _tls.buffers = _CallBuffers()
        return b
_EMPTY_MAP = msgpack.packb({})


def _retire(pool, native: _Native, retired: list[bool]) -> None:
    """Retire ``pool`` once; the Tenant's reference on ``native`` goes when no
    instance of it is out (now, or when the last call gives its instance back)."""
    if not retired[0]:
        retired[0] = True
        if lib.eh_pool_retire(pool):
            native.release()


def _drop_version(pool, native: _Native, retired: list[bool]) -> None:
    """The Tenant object is gone (no call can be running): retire, free the pool."""
    _retire(pool, native, retired)
    lib.eh_pool_free(pool)


def check_memory_count(wasm: bytes, where: str, *, allowed: int = 1) -> None:
    """A tenant module has one memory (its instances' memory cap holds per
    memory, and the engine's pool has room for two per instance: the
    memory and the dirty map of the host's write-tracking rewrite).
    ``wasm`` has compiled already, so its sections parse."""
    from edgehost.reload import wasm_binary

    n = wasm_binary.memory_count(wasm)
    if n > allowed:
        raise ConfigError(f"a tenant module has one memory; this one has {n}", path=where)


class Tenant:
    """One loaded version of a tenant (see the module docstring for ownership)."""

    def __init__(self, man: manifest_mod.Manifest, wasm: bytes | None = None, *,
                 engine: engine_mod.Engine | None = None, store: state.Store | None = None,
                 guest_options: dict | None = None, like: Tenant | None = None,
                 guest_of: Tenant | None = None, write_tracked: bool = False):
        """Load version ``wasm`` (default: the manifest's built module) of the
        tenant ``man`` describes, on ``engine`` (default: the process's shared
        engine for its fuel setting). Its kv state lives in ``store`` (default:
        :func:`edgehost.state.default_store`) under its name, so a reloaded
        version finds it. With KVM isolation the version gets a guest (its
        own, or ``guest_of``'s), made with ``guest_options`` (keyword arguments of
        :class:`~edgehost.isolation.guest.Guest`, e.g. ``idle_spin_us``); its time
        limit is the manifest's ``deadline_ms`` unless that says otherwise.
        ``like`` (instead of ``wasm``): another version (open or closed) whose
        compiled, checked module this one runs as it is -- a change to the
        manifest alone, as hot reload makes it. ``guest_of``: another version
        of this tenant (open, or closed with calls still in flight) whose KVM
        guest this one shares, when that guest is still open and was made
        with the settings this version's own would get; else it boots its
        own (see the module docstring). ``write_tracked``: ``wasm`` is the
        host's write-tracking rewrite of a snapshot (hot reload's
        ``instance = "fresh"``), whose second memory is its dirty map; a
        tenant's own module has one memory."""
        self._store = store
        self._guest_options = dict(guest_options or {})
        self._guest_of = guest_of   # only until the native tenant is made
        self.manifest = man
        self.name = man.name
        #: ``wasm`` tracks its writes: used instances are put back in place.
        self.write_tracked = write_tracked
        #: For ``instance = "fresh"``: how each call gets a new instance's state.
        self.fresh_note = "" if man.instance != "fresh" else \
            FRESH_IN_PLACE if write_tracked else FRESH_NEW
        fuel = man.limits["fuel"] > 0
        self.engine = like.engine if like is not None else engine or engine_mod.shared(fuel=fuel)
        if self.engine.fuel != fuel:
            raise ConfigError(f"limits.fuel={man.limits['fuel']} needs an engine "
                              f"{'with' if fuel else 'without'} fuel metering",
                              path=str(man.path), field="limits.fuel")
        if like is not None:
            self.module, self.handlers = like.module, like.handlers
            self._configure = like._configure
        else:
            self._compile(man, wasm if wasm is not None else read_module(man),
                          memories=2 if write_tracked else 1)
        for route, export in man.routes.items():
            if export not in self.handlers:
                raise ConfigError(f"route {route} names {export!r}, which is not a handler "
                                  f"export (handlers: {', '.join(self.handlers) or 'none'})",
                                  path=str(man.path), field=f"routes.{route}")
        self.isolation = isolation.resolve(man.isolation)
        self.share = instance_share(man, self.engine.slots)
        kernels_lib()
        try:
            self._native = self._new_native(man)
        finally:
            self._guest_of = None   # no hold on another version
        try:
            self._pool = self._new_pool(self._native, man)
        except BaseException:
            self._native.release()
            raise
        self._retired = [False]  # guarded by self._lock; shared with the finalizer
        self._finalizer = weakref.finalize(self, _drop_version, self._pool, self._native,
                                           self._retired)
        self._finalizer.atexit = False
        self._log_buf = ffi.new("eh_log_entry[64]")  # guarded by _log_lock
        self._log_lock = threading.Lock()
        self._dropped = ffi.new("uint64_t *")
        self.log_dropped = 0
        self.log_lines = 0
        self._index = {h: i for i, h in enumerate(self.handlers)}  # the pool's order
        self._lock = threading.Lock()
        self._closed = False
        # Instantiate once now: start-up failures and a refused configuration
        # surface at load time, not on the first request.
        try:
            self._warm_up()
        except BaseException:
            self.close()
            raise

    def _compile(self, man: manifest_mod.Manifest, data: bytes, *, memories: int) -> None:
        try:
            self.module = self.engine.compile(data)
        except Exception as exc:  # wasmtime.WasmtimeError: malformed or invalid binary
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"not a valid WebAssembly module: {first}",
                              path=str(man.wasm)) from None
        self.handlers = validate.check_module(self.module, where=str(man.wasm))
        check_memory_count(data, str(man.wasm), allowed=memories)
        self._configure = abi.CONFIGURE_EXPORT in {e.name for e in self.module.exports}

    def _new_native(self, man: manifest_mod.Manifest) -> _Native:
        limits = ffi.new("eh_limits *")
        lim = man.limits
        limits.max_memory_bytes = lim["memory_mb"] << 20
        limits.deadline_ns = lim["deadline_ms"] * 1_000_000
        limits.fuel = lim["fuel"]
        limits.kv_max_bytes = lim["kv_max_bytes"]
        limits.kv_max_key = lim["kv_max_key"]
        limits.kv_max_value = lim["kv_max_value"]
        limits.log_per_sec = lim["log_per_sec"]
        limits.log_burst = max(1, lim["log_per_sec"])
        limits.max_instances = self.share
        err = ffi.new("char[512]")
        ptr = lib.eh_tenant_new(self.engine.ptr, engine_mod.native_ptr(self.module),
                                self.name.encode(), limits, err, 512)
        if ptr == ffi.NULL:
            raise ConfigError(ffi.string(err).decode(errors="replace"), path=str(man.wasm))
        native = _Native(ptr, self.name, self.handlers, dict(lim))
        try:
            self._attach_kv(ptr, self._store or state.default_store())
            self._set_config(ptr, man.config)
            mask = 1 << abi.Kernel.NOP | 1 << abi.Kernel.CRC32C
            for k in man.kernels:
                mask |= 1 << abi.KERNELS[k]
            lib.eh_tenant_set_kernels(ptr, mask)
            if self.isolation == "kvm":
                self._attach_guest(native)
        except BaseException:
            native.release()
            raise
        return native

    def _new_pool(self, native: _Native, man: manifest_mod.Manifest):
        """The version's instance pool: every handler resolved in
        ``self.handlers`` order, POOL_MAX_IDLE idle at most."""
        names = [ffi.new("char[]", h.encode()) for h in self.handlers]
        err = ffi.new("char[512]")
        pool = lib.eh_pool_new(native.ptr, ffi.new("char *[]", names) if names else ffi.NULL,
                               len(names), POOL_MAX_IDLE, int(man.instance == "fresh"), err, 512)
        if pool == ffi.NULL:
            raise ConfigError(ffi.string(err).decode(errors="replace"), path=str(man.path))
        return pool

    def _set_config(self, ptr, config: dict) -> None:
        items = sorted((k.encode(), msgpack.packb(v)) for k, v in config.items())
        keys = ffi.new("char *[]", [ffi.from_buffer(k) for k, _ in items] or [ffi.NULL])
        vals = ffi.new("uint8_t *[]", [ffi.from_buffer(v) for _, v in items] or [ffi.NULL])
        klen = ffi.new("uint32_t[]", [len(k) for k, _ in items] or [0])
        vlen = ffi.new("uint32_t[]", [len(v) for _, v in items] or [0])
        if lib.eh_tenant_set_config(ptr, len(items), keys, klen, vals, vlen) != 0:
            raise ConfigError("out of memory storing config", path=str(self.manifest.path))

    def _attach_kv(self, ptr, store: state.Store) -> None:
        max_key = self.manifest.limits["kv_max_key"]
        if max_key > store.max_key:
            raise ConfigError(f"{max_key} is more than the kv store {store.description} holds "
                              f"({store.max_key})", path=str(self.manifest.path),
                              field="limits.kv_max_key")
        with store.namespace(self.name, max_bytes=self.manifest.limits["kv_max_bytes"],
                             durable=self.manifest.durable) as ns:
            lib.eh_tenant_set_kv(ptr, ns.ptr)  # the tenant keeps its own reference
        self.store = store

    def _attach_guest(self, native: _Native) -> None:
        """Give this version a KVM guest: ``guest_of``'s when it may share it,
        else its own (one use of it held by ``native``, left when it is freed)."""
        from edgehost.isolation.guest import Guest

        settings = {"time_limit_ms": self.manifest.limits["deadline_ms"], **self._guest_options}
        other = self._guest_of
        use = other._native.guest_use if other is not None and other.name == self.name \
            else None
        if use is not None and use.settings == settings and use.join():
            native.guest_use = use   # booted already; its counters go on
        else:
            native.guest_use = _GuestUse(Guest(**settings), self.name, settings)
            # Booted now, at load: a request never pays for (or waits behind) a
            # boot, and a guest that cannot start fails the load, not a request.
            native.guest.boot()
        # The native tenant takes its own reference (eh_vm_retain): the VM
        # outlives every instance that may still call into it.
        lib.eh_tenant_set_guest(native.ptr, native.guest.handle)

    # -- lifetime -----------------------------------------------------------------
    @property
    def native(self):
        """The native ``eh_tenant *`` (raises TenantClosed once the version is freed)."""
        return self._native.ptr

    @property
    def guest(self):
        """This version's KVM guest (None with inproc isolation)."""
        return self._native.guest

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Retire this version (idempotent): refuse new calls, free idle instances
        now and, once calls in flight have returned, the native tenant and guest."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.drain_logs()  # the version still holds its native tenant here
        with self._log_lock:
            self._log_buf = None  # a retired version keeps no buffers
        with self._lock:
            _retire(self._pool, self._native, self._retired)
        # self.module is not closed here: the module cache hands one compiled
        # module to every version with the same bytes (runtime/module_cache.py).

    def __enter__(self) -> Tenant:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- instances -----------------------------------------------------------------
    def _new_instance(self) -> Instance:
        inst = Instance(self._native, self.manifest)
        if self._configure:
            try:
                rc = inst.call_raw(abi.CONFIGURE_EXPORT)[0] & 0xFFFFFFFF
            except BaseException:
                inst.close()
                raise
            if rc:
                inst.close()
                raise ConfigError(f"tenant refused its configuration ({abi.CONFIGURE_EXPORT} "
                                  f"returned {rc})", path=str(self.manifest.path))
        return inst

    def _acquire(self, export: str, b: _CallBuffers):
        """A pooled instance (``eh_instance *``) for a call; the native version
        stays alive until :meth:`_give_back` (see the module docstring)."""
        ptr = lib.eh_pool_acquire(self._pool, b.kind, b.err, 512)
        if ptr == ffi.NULL:
            kind = b.kind[0]
            if kind == lib.EH_TRAP_CLOSED:  # retired meanwhile: finish the retirement
                self._native.release()
            if kind == lib.EH_TRAP_CLOSED or self._closed:
                raise TenantClosed(self.name)
            raise _no_instance(self.name, self.manifest, kind,
                               ffi.string(b.err).decode(errors="replace"), export)
        return ptr

    def _give_back(self, ptr, discard: bool) -> None:
        if lib.eh_pool_release(self._pool, ptr, int(discard)):
            self._native.release()  # the last call out of a retired pool

    def _warm_up(self) -> None:
        """One instance made and configured now, left idle in the pool."""
        self._give_back(self._acquire("instantiate", _call_buffers()), False)

    def pool_stats(self) -> dict[str, int]:
        """This version's pool: idle, live (idle + in use), created,
        discarded (after a trap), evicted (freed for another's allocation)."""
        st = ffi.new("eh_pool_stats *")
        lib.eh_pool_get_stats(self._pool, st)
        return {k: getattr(st, k) for k in ("idle", "live", "created", "discarded", "evicted")}

    # -- calls ---------------------------------------------------------------------
    def call(self, export: str, body: bytes = b"", *, method: str = "POST", path: str = "/",
             query: str = "", headers: dict[str, str] | None = None,
             check: bool = True) -> Response:
        """Run handler ``export`` on ``body``; raise TenantError for a non-zero status
        when ``check``, TenantTrap for a trap or a limit (the instance is discarded),
        TenantClosed once the version is closed."""
        if export in abi.RESERVED_EXPORTS or export not in self.handlers:
            raise ExportNotFound(self.name, export, self.handlers)
        hdrs = msgpack.packb({k.lower(): v for k, v in headers.items()}) if headers \
            else _EMPTY_MAP
        body = body if type(body) is bytes else bytes(body)
        m, p, q = method.encode(), path.encode(), query.encode()
        b = _call_buffers()
        ptr = self._acquire(export, b)
        discard = True
        try:
            if lib.eh_instance_handle_parts(ptr, self._index[export], m, len(m), p, len(p), q,
                                            len(q), hdrs, len(hdrs), body, len(body),
                                            b.status) < 0:
                trap = _call_error(ptr, self._native, export, b.kind, b.size)
                fatal = [msg for level, msg in self.drain_logs() if level == "fatal"]
                if fatal:
                    trap = TenantTrap(trap.tenant, trap.export, trap.message, kind=trap.kind,
                                      fatal=fatal[-1])
                discard = trap.kind != "store"  # a store failure leaves the instance sound
                raise trap
            resp = _response(ptr, b.status, b.http, b.blen, b.hdrs, b.hlen)
            discard = False
            # Drain while the call still holds the native tenant (a close()
            # during the call frees it when the instance is given back).
            if lib.eh_tenant_log_pending(self._native.ptr):
                self.drain_logs()
        finally:
            self._give_back(ptr, discard)
        if check and resp.status != 0:
            raise TenantError(self.name, export, resp.status, resp.body[:200].decode(
                "utf-8", errors="replace"))
        return resp

    def instance(self) -> Instance:
        """A fresh, configured instance for direct use (benchmarks, tests); the
        caller owns it and must close it (it keeps this version's native state
        alive until then)."""
        if self._closed:
            raise TenantClosed(self.name)
        return self._new_instance()

    # -- observability -------------------------------------------------------------
    def drain_logs(self) -> list[tuple[str, str]]:
        """Move the tenant's log lines into Python logging
        (``edgehost.tenant.<name>``); return them as (level, message)."""
        out = []
        logger = logging.getLogger(f"edgehost.tenant.{self.name}")
        with self._log_lock:  # calls on several threads share the buffer
            buf = self._log_buf
            if buf is None:  # retired: close() drained the last lines
                return out
            ptr = self._native.ptr
            while True:
                n = lib.eh_tenant_log_drain(ptr, buf, 64, self._dropped)
                for i in range(n):
                    e = buf[i]
                    level = LOG_LEVEL_NAMES.get(e.level, "info")
                    out.append((level, bytes(ffi.buffer(e.msg, e.len)).decode(
                        "utf-8", errors="replace")))
                if n < 64:
                    break
            self.log_dropped = self._dropped[0]
        self.log_lines += len(out)
        for level, msg in out:
            logger.log(_PY_LEVELS[level], msg)
        return out

    def kv_stats(self) -> tuple[int, int]:
        c, b = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        lib.eh_tenant_kv_stats(self._native.ptr, c, b)
        return c[0], b[0]


MAX_MODULE_BYTES = 256 << 20
# Tenant.fresh_note for instance = "fresh" (a refusal's reason may follow FRESH_NEW).
FRESH_IN_PLACE = "used instances are put back in place"
FRESH_NEW = "a new instance per call"


def read_module(man: manifest_mod.Manifest) -> bytes:
    """The module's bytes (tenant-supplied: a regular file of at most
    MAX_MODULE_BYTES, see :func:`edgehost.wasm_config.files.read_regular`)."""
    try:
        return read_regular(man.wasm, MAX_MODULE_BYTES, "module")
    except FileNotFoundError:
        raise ConfigError("module not built yet; run: edgehost build "
                          f"{man.directory}", path=str(man.wasm)) from None


def load(path: str | pathlib.Path) -> Tenant:
    """Load the tenant in directory ``path`` (its manifest and built module).
    An ``instance = "fresh"`` tenant is loaded as ``edgehost serve`` serves
    it: started from a snapshot of its configured state, each used instance
    put back in that state after every call rather than a new one made per
    call (:func:`edgehost.reload.snapshot.fresh_tenant`; ``fresh_note`` says
    which it got)."""
    man = manifest_mod.load(path)
    if man.instance != "fresh":
        return Tenant(man)
    from edgehost.reload import snapshot  # the reload layer builds on this one

    return snapshot.fresh_tenant(man)
