"""Typed errors. Each carries its data as attributes and renders one line;
the CLI prints ``str(err)`` and exits non-zero, never a traceback."""

from __future__ import annotations

# The root of the hierarchy and ConfigError belong to the tenant contract
# (edgehost.wasm_config), which must not depend on the runtime.
from edgehost.wasm_config.errors import ConfigError, EdgehostError  # noqa: F401


class TenantNotFound(EdgehostError):
    def __init__(self, tenant: str, reason: str = "no such tenant"):
        self.tenant = tenant
        super().__init__(f"tenant {tenant!r}: {reason}")


class TenantClosed(EdgehostError):
    """A tenant version (or one of its instances) was used after close()."""

    def __init__(self, tenant: str, reason: str = "this version is closed"):
        self.tenant, self.reason = tenant, reason
        super().__init__(f"tenant {tenant!r}: {reason}")


class ExportNotFound(EdgehostError):
    def __init__(self, tenant: str, export: str, available: list[str] | None = None):
        self.tenant, self.export = tenant, export
        hint = f" (handlers: {', '.join(available)})" if available else ""
        super().__init__(f"tenant {tenant!r} has no handler export {export!r}{hint}")


class TenantTrap(EdgehostError):
    """The tenant's WASM trapped (or hit a limit) during a call. ``fatal`` is
    the last fatal-level line the tenant logged in that call (an SDK panic
    handler's message), if any."""

    def __init__(self, tenant: str, export: str, message: str, *, kind: str = "trap",
                 fatal: str | None = None):
        self.tenant, self.export, self.message, self.kind = tenant, export, message, kind
        self.fatal = fatal
        said = f" (tenant logged: {fatal})" if fatal else ""
        super().__init__(f"tenant {tenant!r} {export}: {kind}: {message}{said}")


class StoreUnavailable(TenantTrap):
    """The tenant's kv store could not serve during a call (server down, disk
    full): the call fails whatever the handler returned (a 5xx for HTTP)."""

    def __init__(self, tenant: str, export: str, message: str):
        super().__init__(tenant, export, message, kind="store")


class InstanceLimit(TenantTrap):
    """No instance could be made for a call, and nothing ran: the tenant
    already holds its ``limits.instances`` share of the process's instance
    slots, all in use by its calls (``kind == "instances"``), or every slot
    of the process is in use by calls (``kind == "slots"``). Idle instances
    are freed to make room before either is reported. A retry may succeed
    once calls return (over HTTP: 503)."""

    def __init__(self, tenant: str, export: str, message: str, *, kind: str):
        super().__init__(tenant, export, message, kind=kind)


class StoreError(EdgehostError):
    """A kv store cannot be opened or cannot do what an operator asked.
    ``store`` names it (``lmdb:/path``, ``redis://host:port/db``)."""

    def __init__(self, store: str, message: str):
        self.store, self.message = store, message
        super().__init__(f"kv store {store}: {message}")


class TenantError(EdgehostError):
    """The tenant ran to completion but returned a non-zero status."""

    def __init__(self, tenant: str, export: str, status: int, detail: str = ""):
        self.tenant, self.export, self.status, self.detail = tenant, export, status, detail
        extra = f": {detail}" if detail else ""
        super().__init__(f"tenant {tenant!r} {export} returned status {status}{extra}")


class KernelError(EdgehostError):
    """A native kernel rejected its input (bad arguments, malformed data).
    ``code`` is the kernel status, ``detail`` its kernel-specific error kind
    (eh_offload_res.detail, when the kernel reported one), ``offset`` the byte."""

    def __init__(self, kernel: str, code: int, message: str, *, offset: int | None = None,
                 detail: int | None = None):
        self.kernel, self.code, self.offset, self.detail = kernel, code, offset, detail
        at = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{kernel}: {message}{at}")


class IsolationUnavailable(EdgehostError):
    """The requested isolation (e.g. kvm) cannot be provided here; never silently downgraded."""

    def __init__(self, isolation: str, reason: str):
        self.isolation, self.reason = isolation, reason
        super().__init__(f"isolation {isolation!r} unavailable: {reason}")


class GuestFault(EdgehostError):
    """A KVM guest took an exit that is not allowed; its VM was destroyed."""

    def __init__(self, reason: str, addr: int | None = None):
        self.reason, self.addr = reason, addr
        at = f" at guest address {addr:#x}" if addr is not None else ""
        super().__init__(f"guest fault: {reason}{at}")


class GuestTimeout(EdgehostError):
    """A guest call ran past its deadline (the guest's time limit, or the
    caller's own deadline when that came first) and was stopped."""

    def __init__(self, limit_ms: float, kernel: str | None = None, detail: str | None = None):
        self.limit_ms, self.kernel, self.detail = limit_ms, kernel, detail
        who = f"{kernel}: " if kernel else ""
        super().__init__(f"{who}{detail or f'guest call exceeded its {limit_ms:g} ms limit'}")


class GuestClosed(EdgehostError):
    """A guest (or a buffer shared with it) was used after close()."""

    def __init__(self, what: str = "KVM guest"):
        self.what = what
        super().__init__(f"{what} is closed")


class ToolchainMissing(EdgehostError):
    def __init__(self, what: str, install_hint: str):
        self.what, self.install_hint = what, install_hint
        super().__init__(f"{what} not found; install with: {install_hint}")


class BuildError(EdgehostError):
    """A compiler refused a tenant's sources. ``output`` is the compiler's
    whole output (every error and warning, naming the tenant's own files);
    the message is one line: the counts and the first error."""

    def __init__(self, target: str, output: str):
        self.target, self.output = target, output
        lines = output.splitlines()
        first = next((ln for ln in lines if "error" in ln.lower()), output.strip())
        errors = sum(1 for ln in lines if "error:" in ln or ln.startswith("error["))
        warnings = sum(1 for ln in lines if "warning:" in ln)
        counts = ", ".join(f"{n} {w}{'s' if n != 1 else ''}" for n, w in
                           ((errors, "error"), (warnings, "warning")) if n)
        super().__init__(f"build of {target} failed{f' ({counts})' if counts else ''}: "
                         f"{first.strip()[:300]}")


class InputError(EdgehostError):
    """A file or argument given on the command line is unusable."""
