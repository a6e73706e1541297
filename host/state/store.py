"""Open kv stores and tenant namespaces: the owners of the native handles.

A :class:`Store` is one open store (an LMDB environment, a Redis client, an
in-process map); open one per process and configuration and share it. A
:class:`Namespace` is one tenant's view of it, keyed by the tenant's name.
Tenants get theirs from :meth:`Store.namespace`; operators read and write
through the same objects (``edgehost kv``). Both are reference counted in C,
so a tenant keeps its namespace (and the store) alive however Python frees
them; :meth:`close` gives up this object's reference at once.
"""

from __future__ import annotations

import logging
import os
import struct

from edgehost.errors import StoreError
from edgehost.native import ffi, lib
from edgehost.state import datadir
from edgehost.state import spec as spec_mod
from edgehost.wasm_config import abi

DURABILITY = {"batch": lib.EH_KV_DURABLE_BATCH, "sync": lib.EH_KV_DURABLE_SYNC}
UNLIMITED = (1 << 64) - 1
_ERR = abi.ERRORS
log = logging.getLogger("edgehost.state")
# What durable = "sync" means where the host cannot fsync each put itself.
_SYNC_ELSEWHERE = {
    "redis": "on Redis, writes are as durable as the server's appendonly/appendfsync "
             "settings make them (appendfsync always ~ sync)",
    "memory": "the in-process store keeps nothing on disk",
}


def _records(ptr, length: int) -> list[bytes]:
    """Decode an eh_kv_buf listing ([u32 len][bytes]...) and free it."""
    try:
        raw = ffi.buffer(ptr, length)[:] if length else b""
    finally:
        lib.eh_kv_free(ptr)
    out, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        out.append(raw[i + 4:i + 4 + n])
        i += 4 + n
    return out


class Store:
    """One open kv store. Use :func:`open_store` to make one."""

    def __init__(self, ptr, spec: spec_mod.StoreSpec, path: str | None = None):
        self._ptr = ffi.gc(ptr, lib.eh_kv_store_release)
        self.spec = spec
        self.path = path
        self.pid = os.getpid()
        self.description = ffi.string(lib.eh_kv_store_describe(ptr)).decode()
        self.backend = ffi.string(lib.eh_kv_store_backend(ptr)).decode()
        self.max_key = lib.eh_kv_store_max_key(ptr)

    @property
    def ptr(self):
        if self._ptr is None:
            raise StoreError(self.description, "closed")
        return self._ptr

    def namespace(self, tenant: str, *, max_bytes: int = UNLIMITED,
                  durable: str = "batch") -> Namespace:
        """Tenant ``tenant``'s namespace with quota ``max_bytes`` (keys + values)."""
        if durable not in DURABILITY:
            raise StoreError(self.description, f"durability must be one of {list(DURABILITY)}")
        err = ffi.new("char[256]")
        ptr = lib.eh_kv_ns_open(self.ptr, tenant.encode(), max_bytes, DURABILITY[durable],
                                err, 256)
        if ptr == ffi.NULL:
            raise StoreError(self.description, ffi.string(err).decode(errors="replace"))
        if durable == "sync" and self.backend in _SYNC_ELSEWHERE:
            log.warning("tenant %s asks for durable = \"sync\": %s", tenant,
                        _SYNC_ELSEWHERE[self.backend])
        return Namespace(ffi.gc(ptr, lib.eh_kv_ns_release), self, tenant)

    def tenants(self) -> list[str]:
        """Names of the tenants that have (or had) data here, sorted."""
        out, n = ffi.new("uint8_t **"), ffi.new("uint64_t *")
        rc = lib.eh_kv_store_tenants(self.ptr, out, n)
        if rc < 0:
            raise StoreError(self.description, _why(self))
        return sorted({r.decode(errors="replace") for r in _records(out[0], n[0])})

    @property
    def syncs(self) -> int:
        """Flushes to disk this process has done (LMDB; 0 for other backends)."""
        return lib.eh_kv_store_syncs(self.ptr)

    @property
    def file_used(self) -> int:
        """LMDB: bytes of the data file in use (0 for the other backends)."""
        return lib.eh_kv_store_file_used(self.ptr)

    def health(self) -> str | None:
        """The last background failure (a flush, a lost server), or None."""
        buf = ffi.new("char[256]")
        if lib.eh_kv_store_health(self.ptr, buf, 256):
            return ffi.string(buf).decode(errors="replace")
        return None

    def close(self) -> None:
        """Give up this object's reference (tenants using the store keep theirs)."""
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.description}>"


class Namespace:
    """One tenant's keys in a store; the operator's (and the tests') handle."""

    def __init__(self, ptr, store: Store, tenant: str):
        self._ptr = ptr
        self.store = store
        self.tenant = tenant

    @property
    def ptr(self):
        if self._ptr is None:
            raise StoreError(self.store.description, f"namespace {self.tenant!r} closed")
        return self._ptr

    def _fail(self, what: str, rc: int) -> StoreError:
        if rc == _ERR["UNAVAILABLE"]:
            why = _why(self.store)
        elif rc == _ERR["QUOTA"]:
            why = "the tenant's kv quota would be exceeded"
        elif rc == _ERR["INVALID"]:
            why = "invalid key or value size"
        else:
            why = f"error {rc}"
        return StoreError(self.store.description, f"{what} for tenant {self.tenant!r}: {why}")

    def _key(self, key: bytes) -> bytes:
        if not 0 < len(key) <= self.store.max_key:
            raise StoreError(self.store.description,
                             f"a key must be 1..{self.store.max_key} bytes (got {len(key)})")
        return key

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None."""
        key = self._key(key)
        cap = 256
        while True:
            buf = ffi.new("uint8_t[]", cap)
            rc = lib.eh_kv_ns_get(self.ptr, key, len(key), buf, cap)
            if rc == _ERR["NOT_FOUND"]:
                return None
            if rc < 0:
                raise self._fail("get", rc)
            if rc <= cap:
                return ffi.buffer(buf, rc)[:]
            cap = rc  # it grew meanwhile: retry with the size it had

    def put(self, key: bytes, value: bytes) -> None:
        key = self._key(key)
        if len(value) >= 1 << 32:
            raise StoreError(self.store.description, "a value must be under 4 GiB")
        rc = lib.eh_kv_ns_put(self.ptr, key, len(key), value, len(value))
        if rc < 0:
            raise self._fail("put", rc)

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; False if it was not there."""
        key = self._key(key)
        rc = lib.eh_kv_ns_delete(self.ptr, key, len(key))
        if rc == _ERR["NOT_FOUND"]:
            return False
        if rc < 0:
            raise self._fail("delete", rc)
        return True

    def keys(self) -> list[bytes]:
        """Every key, sorted."""
        out, n = ffi.new("uint8_t **"), ffi.new("uint64_t *")
        rc = lib.eh_kv_ns_keys(self.ptr, out, n)
        if rc < 0:
            raise self._fail("list", rc)
        return sorted(set(_records(out[0], n[0])))

    def stats(self) -> tuple[int, int]:
        """(number of keys, bytes of keys + values), as the quota counts them."""
        c, b = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        rc = lib.eh_kv_ns_stats(self.ptr, c, b)
        if rc < 0:
            raise self._fail("stats", rc)
        return c[0], b[0]

    def drop(self) -> None:
        """Delete every key of the tenant and its counters."""
        rc = lib.eh_kv_ns_drop(self.ptr)
        if rc < 0:
            raise self._fail("drop", rc)

    def close(self) -> None:
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _why(store: Store) -> str:
    """This thread's last store failure, without the store's name in front."""
    msg = ffi.string(lib.eh_kv_last_error()).decode(errors="replace") or "unavailable"
    return msg.removeprefix(f"{store.description}: ")


def open_store(kv: str | None = None, data: str | os.PathLike | None = None) -> Store:
    """Open the store chosen by ``kv`` (``lmdb``, ``redis://...``, ``memory``;
    default ``$EDGEHOST_KV`` or ``lmdb``) with the embedded one in ``data``
    (default: :func:`edgehost.state.datadir.default_data_dir`)."""
    return open_spec(spec_mod.parse(kv, data))


def open_spec(spec: spec_mod.StoreSpec) -> Store:
    err = ffi.new("char[512]")
    path = None
    if spec.backend == "memory":
        ptr = lib.eh_kv_open_memory(err, 512)
    elif spec.backend == "lmdb":
        path = str(datadir.kv_dir(spec.data))
        ptr = lib.eh_kv_open_lmdb(path.encode(), spec.option("map_mb") << 20,
                                  spec.option("flush_ms"), err, 512)
    else:
        ptr = lib.eh_kv_open_redis(spec.host.encode(), spec.port, spec.db,
                                   spec.password.encode(), spec.prefix.encode(),
                                   spec.option("connect_timeout_ms"), spec.option("timeout_ms"),
                                   spec.option("retry_ms"), err, 512)
    if ptr == ffi.NULL:
        where = f"lmdb:{path}" if path else spec.describe()
        raise StoreError(where, ffi.string(err).decode(errors="replace"))
    return Store(ptr, spec, path)
