"""Which kv store a host uses, from ``--kv`` / ``$EDGEHOST_KV`` and ``--data``.

``--kv`` accepts:

* ``lmdb`` (the default): the embedded store in ``DATA/kv``; options as a
  query string, e.g. ``lmdb:?flush_ms=20&map_mb=8192``:
  ``flush_ms`` -- committed writes reach the disk within this many ms
  (default 50; 0 = every commit is synced before it returns);
  ``map_mb`` -- address space (and largest file size) of a NEW store
  (default 8192; an existing store keeps the size it was created with).
* ``redis://[:PASSWORD@]HOST[:PORT][/DB][?prefix=eh&timeout_ms=500&connect_timeout_ms=250&retry_ms=500]``
  (``valkey://`` is the same): a Redis or Valkey server shared by several
  hosts. ``timeout_ms`` bounds each command, ``connect_timeout_ms`` each
  connection attempt; after a failure the store answers "unavailable" at
  once for ``retry_ms``, then tries again. ``prefix`` starts every key.
* ``memory``: a map inside this process, lost when it exits (tests).
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

from edgehost.errors import StoreError

ENV_KV = "EDGEHOST_KV"
LMDB_DEFAULTS = {"flush_ms": 50, "map_mb": 8192}
LMDB_BOUNDS = {"flush_ms": (0, 60_000), "map_mb": (16, 1 << 24)}
REDIS_DEFAULTS = {"timeout_ms": 500, "connect_timeout_ms": 250, "retry_ms": 500}
REDIS_BOUNDS = {"timeout_ms": (1, 600_000), "connect_timeout_ms": (1, 600_000),
                "retry_ms": (0, 600_000)}
REDIS_PORT = 6379


@dataclasses.dataclass(frozen=True)
class StoreSpec:
    """A parsed store choice; ``key`` identifies it (same key, same store)."""

    backend: str                       # lmdb | redis | memory
    data: str | None = None            # lmdb: the data directory as given (None: default)
    options: tuple = ()                # sorted (name, value) pairs
    host: str = ""
    port: int = 0
    db: int = 0
    password: str = ""
    prefix: str = "eh"

    def option(self, name: str) -> int:
        return dict(self.options)[name]

    @property
    def key(self) -> tuple:
        return dataclasses.astuple(self)

    def describe(self) -> str:
        if self.backend == "redis":
            return f"redis://{self.host}:{self.port}/{self.db}"
        if self.backend == "lmdb":
            return f"lmdb:{self.data or '(default data dir)'}"
        return self.backend


def _int_options(query: str, defaults: dict, bounds: dict, where: str) -> dict:
    out = dict(defaults)
    for name, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        if name not in defaults:
            raise StoreError(where, f"unknown option {name!r} (known: {', '.join(defaults)})")
        lo, hi = bounds[name]
        try:
            val = int(values[-1])
        except ValueError:
            val = None
        if val is None or not lo <= val <= hi:
            raise StoreError(where, f"option {name} must be an integer in {lo}..{hi}")
        out[name] = val
    return out


def parse(kv: str | None = None, data: str | os.PathLike | None = None) -> StoreSpec:
    """The store chosen by ``kv`` (else ``$EDGEHOST_KV``, else lmdb) and ``data``."""
    text = kv if kv is not None else os.environ.get(ENV_KV) or "lmdb"
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    data_s = os.fspath(data) if data is not None else None
    if scheme == "memory" and not rest:
        return StoreSpec("memory")
    if scheme == "lmdb":
        query = rest[1:] if rest.startswith("?") else rest
        if rest and not rest.startswith("?"):
            raise StoreError(text, "give the directory with --data; lmdb takes only "
                             "options, e.g. lmdb:?flush_ms=20")
        opts = _int_options(query, LMDB_DEFAULTS, LMDB_BOUNDS, text)
        return StoreSpec("lmdb", data=data_s, options=tuple(sorted(opts.items())))
    if scheme in ("redis", "valkey") and sep:
        return _parse_redis(text)
    if scheme in ("rediss", "valkeys"):
        raise StoreError(text, "TLS connections are not supported (hiredis is built without "
                         "them); use redis:// on a trusted network or a local TLS tunnel")
    raise StoreError(text, "unknown kv store; use lmdb, memory or redis://HOST[:PORT][/DB]")


def _parse_redis(text: str) -> StoreSpec:
    url = urllib.parse.urlsplit(text)
    try:
        port = url.port or REDIS_PORT
    except ValueError:
        raise StoreError(text, "bad port") from None
    if not url.hostname:
        raise StoreError(text, "no host")
    path = url.path.strip("/")
    if path and not path.isdigit():
        raise StoreError(text, "the path must be a database number, e.g. redis://host:6379/0")
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    prefix = query.pop("prefix", ["eh"])[-1]
    if not prefix or len(prefix) > 24 or any(c in prefix for c in "{}*?[]\\:"):
        raise StoreError(text, "prefix must be 1..24 characters without {}*?[]\\:")
    opts = _int_options(urllib.parse.urlencode(query, doseq=True), REDIS_DEFAULTS, REDIS_BOUNDS,
                        text)
    return StoreSpec("redis", options=tuple(sorted(opts.items())), host=url.hostname, port=port,
                     db=int(path or 0), password=urllib.parse.unquote(url.password or ""),
                     prefix=prefix)
