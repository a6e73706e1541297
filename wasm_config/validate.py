"""Check a compiled module against the ABI before it may run.

Unknown imports, missing or mistyped required exports, a wrong ABI version
and an unexported memory are each a :class:`ConfigError` naming the import or
export. Nothing is instantiated before this passes.
"""

from __future__ import annotations

import re

import wasmtime

from edgehost.wasm_config import abi
from edgehost.wasm_config.errors import ConfigError

_VERSION_RE = re.compile(r"^edgehost_abi_v(\d+)$")


def _functype_text(ft: wasmtime.FuncType) -> str:
    p = ",".join(str(t) for t in ft.params)
    r = ",".join(str(t) for t in ft.results)
    return f"({p})->{r}" if r else f"({p})"


def check_module(module: wasmtime.Module, *, where: str = "module") -> list[str]:
    """Validate ``module``; return its handler export names (sorted)."""
    for imp in module.imports:
        full = f"{imp.module}.{imp.name}"
        if imp.module != abi.IMPORT_MODULE:
            raise ConfigError(f"unknown import {full}: tenants may import only "
                              f"{abi.IMPORT_MODULE}.* (is a libc function pulling in WASI?)",
                              path=where)
        spec = abi.IMPORTS_BY_NAME.get(imp.name or "")
        if spec is None:
            raise ConfigError(f"unknown import {full} (not in ABI v{abi.ABI_VERSION})",
                              path=where)
        if not isinstance(imp.type, wasmtime.FuncType):
            raise ConfigError(f"import {full} must be a function", path=where)
        got = _functype_text(imp.type)
        if got != spec.signature:
            raise ConfigError(f"import {full} has type {got}, ABI says {spec.signature}",
                              path=where)
    exports = {e.name: e.type for e in module.exports}
    versions = [m.group(1) for n in exports if (m := _VERSION_RE.match(n))]
    if abi.ABI_MARKER not in exports:
        if versions:
            raise ConfigError(f"module targets ABI v{versions[0]}, this host speaks "
                              f"v{abi.ABI_VERSION} (export {abi.ABI_MARKER})", path=where)
        raise ConfigError(f"missing export {abi.ABI_MARKER}: not an edgehost tenant "
                          "(build it against the SDK)", path=where)
    for name, want in abi.REQUIRED_EXPORTS.items():
        ty = exports.get(name)
        if ty is None:
            raise ConfigError(f"missing required export {name!r}", path=where)
        if want == "memory":
            if not isinstance(ty, wasmtime.MemoryType):
                raise ConfigError(f"export {name!r} must be a memory", path=where)
            continue
        if not isinstance(ty, wasmtime.FuncType) or _functype_text(ty) != want:
            raise ConfigError(f"export {name!r} must have type {want}", path=where)
    for name, want in abi.OPTIONAL_EXPORTS.items():
        ty = exports.get(name)
        if ty is not None and (not isinstance(ty, wasmtime.FuncType)
                               or _functype_text(ty) != want):
            raise ConfigError(f"export {name!r} must have type {want}", path=where)
    handlers = []
    for name, ty in exports.items():
        if name in abi.RESERVED_EXPORTS or not isinstance(ty, wasmtime.FuncType):
            continue
        if _functype_text(ty) == abi.HANDLER_SIGNATURE:
            handlers.append(name)
    return sorted(handlers)
