"""The version pipeline, off the request path: a tenant's files become a
loaded version that may take traffic, or a rejection with its reason.

1. read the files consistently, name the version by content (:mod:`.files`);
2. compile through the module cache (a module seen before, on this machine,
   with this wasmtime and these engine settings, is not compiled again;
   in one process the compiled module is shared, so a manifest-only change
   never recompiles) and check it against the ABI -- or, for a change to the
   manifest alone (such as ``[config]``), take the live version's compiled
   and checked module as it is (:func:`load`'s ``like``);
3. instantiate it and run the tenant's ``edgehost_configure`` under the
   tenant's deadline (a trap, a refusal or a timeout rejects the version);
4. answer every golden request (``[[check]]``) correctly, in time;
5. -- the caller swaps it in --
6. later, off the swap: snapshot the configured state (:mod:`.snapshot`) and
   serve that form of the same version once it passes the same checks. For
   a reload it starts :data:`SNAPSHOT_AFTER_S` after the swap, so the new
   version's first requests (which make its first instances) do not share
   the CPU with the snapshot's rewrite and compile.

:class:`Rejected` carries which file is at fault and why, for the one log
line a rejection makes.
"""

from __future__ import annotations

import dataclasses
import time

from edgehost.errors import ConfigError, EdgehostError
from edgehost.reload import canary, files, snapshot, wasm_binary
from edgehost.reload.canary import CheckFailed, CheckResult

SNAPSHOT_AFTER_S = 0.05


class Rejected(EdgehostError):
    """A version that may not go live: ``file`` is the file at fault."""

    def __init__(self, tenant: str, file: str, reason: str):
        self.tenant, self.file, self.reason = tenant, file, reason
        super().__init__(f"tenant {tenant}: {file}: {reason}")

    @property
    def maybe_truncated(self) -> bool:
        """A file that does not parse: it may be one a writer has not finished."""
        return "not a valid WebAssembly module" in self.reason or "not valid TOML" in self.reason


@dataclasses.dataclass
class Loaded:
    """A version loaded, configured and checked: ready to take traffic."""

    files: files.TenantFiles
    tenant: object                      # edgehost.runtime.tenant.Tenant
    form: str                           # "configured" | "snapshot"
    checks: list[CheckResult]
    load_ms: float
    snapshot: snapshot.Snapshot | None = None
    guest_options: dict | None = None   # what its KVM guest was made with
    configured: object = None           # the snapshot form's: its configured form's Tenant
    #                                     (closed once the snapshot serves; its module stays)

    @property
    def configured_tenant(self):
        """The Tenant of this version's configured form: its module is the
        one a manifest-only change reuses."""
        return self.configured if self.configured is not None else self.tenant

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def version(self) -> str:
        return self.files.version

    def close(self) -> None:
        self.tenant.close()


def _reason(exc: BaseException, files_: files.TenantFiles | None) -> tuple[str, str]:
    """(file at fault, reason) for a failure while loading ``files_``."""
    if isinstance(exc, ConfigError) and exc.path:
        text = str(exc)
        prefix = f"{exc.path}: "
        return exc.path, text[len(prefix):] if text.startswith(prefix) else text
    if files_ is None:
        return "?", str(exc)
    if isinstance(exc, CheckFailed):
        return str(files_.manifest.wasm), str(exc)
    return str(files_.manifest.wasm), str(exc)


def read(directory, *, known: files.TenantFiles | None = None) -> files.TenantFiles:
    """:func:`files.read`, with a bad manifest turned into :class:`Rejected`."""
    try:
        return files.read(directory, known=known)
    except ConfigError as exc:
        name = getattr(exc, "tenant", None) or _dir_name(directory)
        file, reason = _reason(exc, None)
        raise Rejected(name, file, reason) from None


def _dir_name(directory) -> str:
    import pathlib

    return pathlib.Path(directory).name


def load(tf: files.TenantFiles, *, run_checks: bool = True,
         guest_options: dict | None = None, like: Loaded | None = None) -> Loaded:
    """Steps 2-4 for ``tf``; raises :class:`Rejected`. ``guest_options`` go to
    the version's KVM guest (Tenant(guest_options=...)). ``like``: the
    tenant's live version; when ``tf`` has its module bytes (a change to the
    manifest alone), its compiled, checked module is used as it is -- not
    instrumented, hashed, looked up or checked again -- and only the new
    native tenant is made, configured and checked; it keeps the live
    version's KVM guest when its guest settings are the same (no boot:
    Tenant(guest_of=...)). A new module gets a guest of its own: until it
    has passed its checks it must not be able to break the guest the live
    version's requests run in."""
    from edgehost.runtime.tenant import Tenant

    t0 = time.perf_counter()
    tenant = None
    fuel = tf.manifest.limits["fuel"] > 0
    same = like is not None and like.files.wasm_sha256 == tf.wasm_sha256 and \
        like.configured_tenant.engine.fuel == fuel
    try:
        if same:
            tenant = Tenant(tf.manifest, like=like.configured_tenant,
                            guest_options=guest_options, guest_of=like.tenant)
        else:
            tenant = Tenant(tf.manifest, wasm=snapshot.served_module(tf.wasm),
                            guest_options=guest_options)
        results = canary.run_all(tenant, tf.manifest.checks) if run_checks else []
    except EdgehostError as exc:
        if tenant is not None:
            tenant.close()
        file, reason = _reason(exc, tf)
        raise Rejected(tf.name, file, reason) from None
    return Loaded(tf, tenant, "configured", results, (time.perf_counter() - t0) * 1e3,
                  guest_options=guest_options)


def snapshot_form(loaded: Loaded) -> Loaded:
    """Step 6: the same version started from its configured state. Raises
    :class:`Rejected` (the snapshot's checks failed, or it could not be
    built: then ``reason`` says why and the configured form stays)."""
    tf = loaded.files
    t0 = time.perf_counter()
    try:
        snap = snapshot.take(loaded.tenant, tf.wasm)
    except (wasm_binary.Unsupported, wasm_binary.Malformed) as exc:
        raise Rejected(tf.name, str(tf.manifest.wasm), f"no snapshot: {exc}") from None
    except EdgehostError as exc:
        raise Rejected(tf.name, str(tf.manifest.wasm), f"no snapshot: {exc}") from None
    tenant = None
    try:
        tenant = snapshot.start_from(snap, loaded.tenant, guest_options=loaded.guest_options)
        results = canary.run_all(tenant, tf.manifest.checks)
    except EdgehostError as exc:
        if tenant is not None:
            tenant.close()
        raise Rejected(tf.name, str(tf.manifest.wasm), f"snapshot refused: {exc}") from None
    return Loaded(tf, tenant, "snapshot", results, (time.perf_counter() - t0) * 1e3, snap,
                  guest_options=loaded.guest_options, configured=loaded.configured_tenant)
