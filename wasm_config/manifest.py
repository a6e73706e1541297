"""Tenant manifest (``edgehost.toml``), read with the standard library's tomllib.

Example::

    name = "etag-c"
    language = "c"                  # c | rust
    sources = ["etag.c"]            # C files, or the Rust crate's lib.rs
    isolation = "default"           # default | kvm | inproc
    kernels = ["crc32c"]            # kernels this tenant may offload (abi.KERNELS names)
    instance = "reuse"              # reuse (warm pool) | fresh (new instance per call)
    durable = "batch"               # batch | sync: when kv writes reach the disk

    [limits]
    deadline_ms = 1000              # wall time per call (epoch interruption)
    memory_mb = 64                  # linear-memory cap per instance
    fuel = 0                        # instructions-ish per call; 0 = unmetered
    kv_max_bytes = 1048576
    kv_max_key = 256
    kv_max_value = 65536
    log_per_sec = 100

    host = ""                       # serve only for this Host ("" = any host)
    prefix = "/etag-c"              # prepended to every route (default "/<name>")

    [routes]                        # HTTP path -> handler export
    "/etag" = "etag"

    [config]                        # values the tenant reads with config_get
    greeting = "hello"

Every problem is a :class:`~edgehost.errors.ConfigError` naming the file and
field, raised by :func:`load` -- never a TypeError at load time or an
OverflowError at call time. Paths are checked here: ``wasm`` must stay inside
the tenant's directory (``edgehost build`` writes it); ``sources`` outside it
are refused by ``edgehost build`` unless its caller opts in.
"""

from __future__ import annotations

import datetime
import pathlib
import re
import tomllib
from dataclasses import dataclass, field

from edgehost.wasm_config import checks as checks_mod
from edgehost.wasm_config.abi import KERNELS, kernel_suggestion
from edgehost.wasm_config.errors import ConfigError
from edgehost.wasm_config.files import read_regular

MANIFEST_NAME = "edgehost.toml"
MAX_MANIFEST_BYTES = 1 << 20
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOST_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$")
EXPORT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

LIMIT_DEFAULTS = {
    "deadline_ms": 1000,
    "memory_mb": 64,
    "fuel": 0,
    "kv_max_bytes": 1 << 20,
    "kv_max_key": 256,
    "kv_max_value": 64 << 10,
    "log_per_sec": 100,
    "max_body_bytes": 1 << 20,
    "concurrency": 0,
    "instances": 0,
}
LIMIT_BOUNDS = {
    "deadline_ms": (1, 600_000),
    "memory_mb": (1, 4096),
    "fuel": (0, 1 << 62),
    "kv_max_bytes": (0, 1 << 34),
    "kv_max_key": (1, 1 << 16),
    "kv_max_value": (0, 1 << 28),
    "log_per_sec": (0, 1 << 20),
    "max_body_bytes": (0, 1 << 30),
    "concurrency": (0, 1024),
    "instances": (0, 1 << 16),
}
# Every top-level field with its meaning (sdk/README.md's reference is generated from this).
FIELDS = {
    "name": "required: lowercase letters, digits, `-`, `_` (max 63)",
    "description": "one line for `edgehost demo` and logs",
    "language": "`c` (default) or `rust`",
    "sources": "C files, or the Rust crate's `lib.rs`, relative to the manifest",
    "wasm": "output file name (default `<name>.wasm`, next to the manifest)",
    "isolation": "`default` (kvm where /dev/kvm works, else inproc), `kvm` or `inproc`",
    "kernels": "kernels the tenant may offload (crc32c is always allowed)",
    "instance": "`reuse` (warm pool, default) or `fresh` (new instance per call)",
    "durable": "kv writes: `batch` (default: committed at once, seen by every worker, on disk "
               "within the store's `flush_ms`, 50 by default) or `sync` (on disk before "
               "`kv_put`/`kv_delete` return)",
    "limits": "table: per-call and per-tenant limits (below)",
    "routes": "table: HTTP path (starting with `/`) = handler export",
    "host": "`edgehost serve` answers the routes only for this Host header (default: any host)",
    "prefix": "`edgehost serve` mounts the routes under this path (default `/<name>`; "
              "`\"\"` for none); handlers see the path without it",
    "config": "table: any TOML values, read by the tenant with `config_get`",
    "check": "array of tables (`[[check]]`): golden requests a new version must answer "
             "correctly before it takes traffic (fields below)",
}
LIMIT_DOCS = {
    "deadline_ms": "wall time per call (epoch interruption)",
    "memory_mb": "linear-memory cap per instance",
    "fuel": "instruction budget per call; 0 = unmetered",
    "kv_max_bytes": "the tenant's whole kv store",
    "kv_max_key": "one key",
    "kv_max_value": "one value",
    "log_per_sec": "log lines per second (burst = one second's worth)",
    "max_body_bytes": "HTTP request body; larger ones get 413 before they are read",
    "concurrency": "handler threads the tenant may hold at once per server worker "
                   "(0 = half of `--threads`)",
    "instances": "instances alive at once per process, in use or idle: the tenant's share of "
                 "the process's instance slots (0 = 1/8 of them; more than half is refused at "
                 "load); past it a call gets a 503 (`InstanceLimit`)",
}
TOP_LEVEL = set(FIELDS)
# [config] values reach tenants as msgpack: integers must fit its 64 bits and
# nesting is bounded (deeper structures are refused at load, not at call time).
CONFIG_MAX_DEPTH = 32
CONFIG_INT_RANGE = (-(1 << 63), (1 << 64) - 1)


@dataclass
class Manifest:
    """A validated tenant manifest. Paths are absolute."""

    path: pathlib.Path
    name: str
    language: str
    sources: list[pathlib.Path]
    wasm: pathlib.Path
    isolation: str = "default"
    kernels: list[str] = field(default_factory=list)
    instance: str = "reuse"
    durable: str = "batch"
    limits: dict[str, int] = field(default_factory=lambda: dict(LIMIT_DEFAULTS))
    routes: dict[str, str] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    description: str = ""
    host: str = ""
    prefix: str = ""
    checks: list = field(default_factory=list)   # [checks.Check], from [[check]]

    @property
    def directory(self) -> pathlib.Path:
        return self.path.parent

    def sources_outside(self) -> list[pathlib.Path]:
        """The sources that are not inside :attr:`directory` (after resolving links)."""
        return [s for s in self.sources if not _inside(s, self.directory)]


def _need(cond: bool, path, fld: str, msg: str) -> None:
    if not cond:
        raise ConfigError(msg, path=str(path), field=fld)


def _inside(path: pathlib.Path, directory: pathlib.Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def load(path: str | pathlib.Path) -> Manifest:
    """Load and validate a manifest file, or the ``edgehost.toml`` in a directory."""
    p = pathlib.Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    if not p.exists():
        raise ConfigError(f"no {MANIFEST_NAME} here", path=str(p.parent if p.parent else p))
    try:
        text = read_regular(p, MAX_MANIFEST_BYTES, "the manifest").decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no {MANIFEST_NAME} here", path=str(p.parent)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid TOML: not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})", path=str(p)) from None
    return loads(text, p)


def loads(text: str, path: pathlib.Path) -> Manifest:
    """Parse and validate manifest ``text``; ``path`` names it and anchors relative files."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(path)) from None
    except RecursionError:
        raise ConfigError("not valid TOML: nested too deeply to parse", path=str(path)) from None
    return from_dict(data, pathlib.Path(path).resolve())


def _check_config(value, path, where: str, depth: int = 0) -> None:
    """Every [config] value must encode as msgpack: see CONFIG_MAX_DEPTH/CONFIG_INT_RANGE."""
    if depth > CONFIG_MAX_DEPTH:
        raise ConfigError(f"nested deeper than {CONFIG_MAX_DEPTH} levels", path=str(path),
                          field=where)
    if isinstance(value, bool | float | str):
        return
    if isinstance(value, int):
        lo, hi = CONFIG_INT_RANGE
        _need(lo <= value <= hi, path, where, f"integer {value} does not fit in 64 bits "
              f"({lo}..{hi})")
        return
    if isinstance(value, datetime.date | datetime.time):
        raise ConfigError("TOML dates and times cannot be passed to a tenant (use a string)",
                          path=str(path), field=where)
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_config(item, path, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_config(item, path, f"{where}.{key}", depth + 1)
        return
    raise ConfigError(f"unsupported value of type {type(value).__name__}", path=str(path),
                      field=where)


def from_dict(data: dict, path: pathlib.Path) -> Manifest:
    """Validate a parsed manifest (``path`` anchors relative file names)."""
    unknown = set(data) - TOP_LEVEL
    _need(not unknown, path, ",".join(sorted(unknown)), "unknown field")
    name = data.get("name")
    _need(isinstance(name, str) and bool(NAME_RE.match(name)), path, "name",
          "required; lowercase letters, digits, '-' and '_' (max 63)")
    lang = data.get("language", "c")
    _need(lang in ("c", "rust"), path, "language", "must be 'c' or 'rust'")
    sources = data.get("sources", [])
    _need(isinstance(sources, list) and all(isinstance(s, str) for s in sources), path,
          "sources", "must be a list of file names")
    base = path.parent
    wasm = data.get("wasm", f"{name}.wasm")
    _need(isinstance(wasm, str) and wasm.endswith(".wasm"), path, "wasm",
          "must be a file name ending in .wasm")
    _need(not pathlib.PurePath(wasm).is_absolute() and _inside(base / wasm, base), path,
          "wasm", f"{wasm!r} is outside the tenant's directory (the module is written there)")
    iso = data.get("isolation", "default")
    _need(iso in ("default", "kvm", "inproc"), path, "isolation",
          "must be 'default', 'kvm' or 'inproc'")
    kernels = data.get("kernels", [])
    _need(isinstance(kernels, list) and all(isinstance(k, str) for k in kernels), path,
          "kernels", "must be a list of kernel names")
    for k in kernels:
        hint = kernel_suggestion(k)
        _need(k in KERNELS, path, "kernels", f"unknown kernel {k!r} " + (
            f"(did you mean {hint!r}?)" if hint else f"(known: {', '.join(sorted(KERNELS))})"))
    inst = data.get("instance", "reuse")
    _need(inst in ("reuse", "fresh"), path, "instance", "must be 'reuse' or 'fresh'")
    durable = data.get("durable", "batch")
    _need(durable in ("batch", "sync"), path, "durable", "must be 'batch' or 'sync'")
    limits = dict(LIMIT_DEFAULTS)
    raw_limits = data.get("limits", {})
    _need(isinstance(raw_limits, dict), path, "limits", "must be a table")
    for key, val in raw_limits.items():
        _need(key in LIMIT_DEFAULTS, path, f"limits.{key}", "unknown limit")
        lo, hi = LIMIT_BOUNDS[key]
        _need(isinstance(val, int) and not isinstance(val, bool) and lo <= val <= hi, path,
              f"limits.{key}", f"must be an integer in {lo}..{hi}")
        limits[key] = val
    routes = data.get("routes", {})
    _need(isinstance(routes, dict), path, "routes", "must be a table of path = export")
    for route, export in routes.items():
        _need(route.startswith("/"), path, f"routes.{route}", "a route must start with '/'")
        _need(isinstance(export, str) and bool(EXPORT_RE.match(export)), path,
              f"routes.{route}", "must name a handler export")
    config = data.get("config", {})
    _need(isinstance(config, dict), path, "config", "must be a table")
    _check_config(config, path, "config")
    host = data.get("host", "")
    _need(isinstance(host, str) and (host == "" or bool(HOST_RE.match(host))) and len(host) < 254,
          path, "host", "must be a lowercase host name (letters, digits, '-', '.') or \"\"")
    prefix = data.get("prefix", f"/{name}")
    _need(isinstance(prefix, str) and (prefix == "" or bool(PREFIX_RE.match(prefix))), path,
          "prefix", "must be \"\" or a path like \"/api\" (no trailing '/')")
    desc = data.get("description", "")
    _need(isinstance(desc, str), path, "description", "must be a string")
    checks = checks_mod.parse(data.get("check", []), path, routes, limits["deadline_ms"])
    return Manifest(
        path=path, name=name, language=lang, sources=[base / s for s in sources],
        wasm=base / wasm, isolation=iso, kernels=list(kernels), instance=inst, limits=limits,
        routes=dict(routes), config=config, description=desc, host=host, prefix=prefix,
        durable=durable,
        checks=checks,
    )
