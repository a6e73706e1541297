"""edgehost: a host for multi-tenant edge compute (WASM tenants, a C host API,
native kernels in KVM guests).

The Python API::

    import edgehost

    edgehost.build("examples/hello-c")                     # C or Rust sources -> .wasm
    with edgehost.load("examples/hello-c") as tenant:     # manifest + built module
        resp = tenant.call("hello", b"you")               # handler export, request body
        print(resp.http_status, resp.headers, resp.body)

    edgehost.kernels.crc32c(b"123456789")                  # a native kernel on its own

Names are imported on first use, so ``import edgehost`` stays cheap and the
contract package (``edgehost.wasm_config``) can be used without the native
extension.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load": "edgehost.runtime.tenant",
    "build": "edgehost.toolchain.build",
    "Tenant": "edgehost.runtime.tenant",
    "Instance": "edgehost.runtime.tenant",
    "Response": "edgehost.runtime.tenant",
    "Engine": "edgehost.runtime.engine",
    "EdgehostError": "edgehost.errors",
    "ConfigError": "edgehost.errors",
    "TenantNotFound": "edgehost.errors",
    "TenantClosed": "edgehost.errors",
    "ExportNotFound": "edgehost.errors",
    "TenantTrap": "edgehost.errors",
    "InstanceLimit": "edgehost.errors",
    "TenantError": "edgehost.errors",
    "KernelError": "edgehost.errors",
    "IsolationUnavailable": "edgehost.errors",
    "GuestFault": "edgehost.errors",
    "GuestTimeout": "edgehost.errors",
}
_SUBMODULES = ("errors", "kernels", "runtime", "isolation", "toolchain", "wasm_config")

__all__ = [*_EXPORTS, *_SUBMODULES]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'edgehost' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
