"""Compiled modules cached on disk, so a restart or an unchanged module does
not compile again.

An entry is wasmtime's own serialized form of a compiled module
(``Module.serialize``), keyed by everything that decides whether it may be
used here: the SHA-256 of the module's bytes, the wasmtime version, the
engine's settings (epoch interruption, fuel, allocator, optimisation level)
and the CPU's features. Another version, setting or CPU gives another key,
so a stale entry is never looked up; wasmtime checks the same things again
when it deserializes, and an entry it refuses is rebuilt.

Deserializing is unsafe on bytes that wasmtime did not write (it maps them as
machine code), so an entry is trusted only after its integrity check: one
file holds a header -- magic, payload length, SHA-256 of the payload -- and
the payload. A truncated, corrupted or foreign entry fails the check BEFORE
deserialization, is deleted and rebuilt. This guards against damage, not
against someone who can write the cache directory: that directory is created
private (0700) and a cache directory other users can write is not used.

Writes go to a temporary file in the same directory, then ``os.replace``, so
readers see a whole entry or none. A write that fails (a full disk, say) is a
logged warning; the module compiled for the caller is returned all the same.
The cache is pruned to :data:`MAX_BYTES`, least recently used first (a hit
refreshes an entry's mtime). Within one process the last :data:`MEMO_ENTRIES`
compiled modules are also kept in memory, so loading the same bytes again (a
manifest-only change, a second version of a tenant) costs nothing at all.

``EDGEHOST_MODULE_CACHE`` moves the cache (a directory) or turns it off
(``off``); the default is ``<user cache dir>/edgehost/modules``.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import hashlib
import logging
import os
import pathlib
import platform
import stat
import struct
import tempfile
import threading

import wasmtime

log = logging.getLogger("edgehost.module_cache")

ENV = "EDGEHOST_MODULE_CACHE"
MAGIC = b"EHMCACHE1\0"
_HEADER = struct.Struct(f"<{len(MAGIC)}sQ32s")   # magic, payload length, sha256(payload)
SUFFIX = ".cwasm"
MAX_BYTES = 512 << 20
MEMO_ENTRIES = 4    # compiled modules kept in memory per process (wasmtime shares them)


def _wasmtime_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("wasmtime")
    except metadata.PackageNotFoundError:  # pragma: no cover - wasmtime is a dependency
        return getattr(wasmtime, "__version__", "unknown")


def _cpu_features() -> str:
    """The CPU's feature flags as the kernel reports them (Cranelift compiles
    for the features it finds, so another CPU needs another entry)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor() or platform.machine()


_HOST_KEY: str | None = None


def host_key() -> str:
    """wasmtime version + machine + CPU features, hashed (fixed per process)."""
    global _HOST_KEY
    if _HOST_KEY is None:
        text = f"wasmtime {_wasmtime_version()}|{platform.machine()}|{_cpu_features()}"
        _HOST_KEY = hashlib.sha256(text.encode()).hexdigest()
    return _HOST_KEY


def entry_key(wasm_sha256: str, settings: str) -> str:
    """The cache key of a module (by content hash) under engine ``settings``."""
    return hashlib.sha256(f"{wasm_sha256}|{settings}|{host_key()}".encode()).hexdigest()


@dataclasses.dataclass
class Stats:
    """What this process's cache did (for status and tests)."""

    hits: int = 0           # loaded from disk
    memo_hits: int = 0      # already compiled in this process
    misses: int = 0         # compiled
    rejected: int = 0       # entries that failed the integrity check or deserialize
    write_failures: int = 0


def default_dir() -> pathlib.Path | None:
    """The cache directory this process uses, or None when turned off."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.strip().lower() in ("off", "0", "") else pathlib.Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "edgehost" / "modules"


class ModuleCache:
    """Compiled modules in one directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike | None, *, max_bytes: int = MAX_BYTES):
        self.dir = pathlib.Path(directory) if directory is not None else None
        self.max_bytes = max_bytes
        self.stats = Stats()
        self._usable: bool | None = None
        self._lock = threading.Lock()
        self._memo: collections.OrderedDict = collections.OrderedDict()

    # -- the directory --------------------------------------------------------------
    def usable(self) -> bool:
        """Whether the directory exists (created 0700 if missing) and only its
        owner can write it. Decided once; a refusal is logged once."""
        if self._usable is None:
            self._usable = self._check_dir()
        return self._usable

    def _check_dir(self) -> bool:
        if self.dir is None:
            return False
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.dir.stat()
        except OSError as exc:
            log.warning("module cache %s unusable (%s): compiling without it", self.dir,
                        exc.strerror or exc)
            return False
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.warning("module cache %s is writable by other users: not used (its entries "
                        "are machine code)", self.dir)
            return False
        return True

    def path(self, key: str) -> pathlib.Path:
        return self.dir / f"{key}{SUFFIX}"

    # -- entries ----------------------------------------------------------------------
    def load(self, engine: wasmtime.Engine, key: str) -> wasmtime.Module | None:
        """The cached module under ``key``, or None (absent, or failed its
        check: then it is deleted)."""
        if not self.usable():
            return None
        p = self.path(key)
        try:
            with open(p, "rb") as fh:
                blob = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("module cache: cannot read %s (%s): compiling", p.name, exc.strerror)
            return None
        payload = self._verified(blob)
        if payload is None:
            self._reject(p, "failed its integrity check (truncated or corrupted)")
            return None
        try:
            module = wasmtime.Module.deserialize(engine, payload)
        except Exception as exc:  # wasmtime.WasmtimeError: another version/setting/CPU
            self._reject(p, f"refused by wasmtime ({str(exc).splitlines()[0][:200]})")
            return None
        try:
            os.utime(p)  # least recently used goes first when pruning
        except OSError:
            pass
        return module

    @staticmethod
    def _verified(blob: bytes) -> bytes | None:
        if len(blob) < _HEADER.size:
            return None
        magic, length, digest = _HEADER.unpack_from(blob)
        payload = memoryview(blob)[_HEADER.size:]
        if magic != MAGIC or length != len(payload):
            return None
        if hashlib.sha256(payload).digest() != digest:
            return None
        return bytes(payload)

    def _reject(self, p: pathlib.Path, why: str) -> None:
        with self._lock:
            self.stats.rejected += 1
        log.warning("module cache: entry %s %s; rebuilding it", p.name, why)
        try:
            p.unlink()
        except OSError:
            pass

    def store(self, key: str, module: wasmtime.Module) -> bool:
        """Write ``module`` under ``key`` (atomically). False, with a warning,
        when it cannot be written; never raises for an I/O problem."""
        if not self.usable():
            return False
        payload = bytes(module.serialize())
        header = _HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest())
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=self.dir)
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                fh.write(payload)
            os.replace(tmp, self.path(key))
            tmp = None
        except OSError as exc:
            with self._lock:
                self.stats.write_failures += 1
            what = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else \
                (exc.strerror or str(exc))
            log.warning("module cache: cannot write %s (%s); the module is used uncached",
                        key[:16], what)
            return False
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        self.prune()
        return True

    def prune(self) -> None:
        """Delete least recently used entries until the cache fits max_bytes."""
        if not self.usable():
            return
        try:
            entries = []
            for p in self.dir.iterdir():
                if p.suffix == SUFFIX and not p.name.startswith(".tmp-"):
                    st = p.stat()
                    entries.append((st.st_mtime, st.st_size, p))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if total <= self.max_bytes:
                break
            try:
                p.unlink()
                total -= size
            except OSError:
                pass

    # -- the one call sites use ------------------------------------------------------------
    def compile(self, engine: wasmtime.Engine, wasm: bytes, settings: str,
                *, sha256: str | None = None) -> wasmtime.Module:
        """``wasm`` compiled for ``engine``: from the cache when an entry
        checks out, else compiled now and stored. Compile errors propagate."""
        digest = sha256 or hashlib.sha256(wasm).hexdigest()
        key = entry_key(digest, settings)
        memo_key = (id(engine), key)
        with self._lock:
            module = self._memo.get(memo_key)
            if module is not None:
                self._memo.move_to_end(memo_key)
                self.stats.memo_hits += 1
                return module
        module = self.load(engine, key)
        if module is not None:
            with self._lock:
                self.stats.hits += 1
        else:
            with self._lock:
                self.stats.misses += 1
            module = wasmtime.Module(engine, wasm)
            self.store(key, module)
        with self._lock:
            self._memo[memo_key] = module
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return module

    def forget(self) -> None:
        """Drop the in-memory compiled modules (the disk entries stay)."""
        with self._lock:
            self._memo.clear()

    def contains(self, wasm_sha256: str, settings: str) -> bool:
        """Whether an entry exists for this module (not verified)."""
        return self.usable() and self.path(entry_key(wasm_sha256, settings)).is_file()


_shared: ModuleCache | None = None
_shared_dir: pathlib.Path | None = None
_shared_lock = threading.Lock()


def shared() -> ModuleCache:
    """The process's cache, in :func:`default_dir` (re-read if the
    environment variable changed, which tests do)."""
    global _shared, _shared_dir
    d = default_dir()
    with _shared_lock:
        if _shared is None or d != _shared_dir:
            _shared, _shared_dir = ModuleCache(d), d
        return _shared
