"""Start from the configured state: a snapshot of a configured instance,
taken at reload time (Wizer's idea, applied when a version loads rather than
when it is built).

A version is first served from its *instrumented* module (the tenant's
module plus exports of its mutable globals, see :mod:`.wasm_binary`): every
new instance runs ``_initialize`` and ``edgehost_configure``. Then one
configured instance is read -- its whole linear memory and every mutable
global -- and the module is rewritten to start in that state (data segments
= the configured memory, global initialisers = the configured values, no
``_initialize``/``edgehost_configure`` export), compiled through the module
cache, and served instead. Its instances start from wasmtime's copy-on-write
image of that memory in a pooling-allocator slot: no constructor, no
configure, however expensive the configure was.

The snapshot instance also asks for its input buffer up front
(``edgehost_alloc``, up to :data:`INPUT_PREALLOC` bytes and never more than
the tenant's ``max_body_bytes``), and new instances start with that buffer --
as a reused instance keeps the buffer of its earlier requests (the ABI lets
the host reuse it) -- so a fresh instance need not grow its memory for the
request body, and an instance put back in place (below) finds every body
the tenant accepts room there: the pages a body covers whole need no
restore, where a body the buffer cannot hold costs a restore of all the
pages the previous one wrote (the allocator must run on restored memory
before it says where the body goes).

For ``instance = "fresh"`` the snapshot module is also rewritten to track
its writes (:mod:`.write_tracking`), and the tenant is given the snapshot's
memory and globals as the image its used instances are put back to after
every request (:func:`apply_fresh_image`) -- instead of a new instance per
request. A module the rewrite refuses keeps a new instance per request.

What a snapshot cannot carry is refused (:class:`~.wasm_binary.Unsupported`)
and the version keeps being served from its instrumented module: state the
tenant keeps outside its memory and globals (its tables: ``configure`` must
not change them, and neither C nor Rust compilers emit code that does), and
the module features listed in :mod:`.wasm_binary`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from edgehost.native import ffi, lib
from edgehost.reload import wasm_binary, write_tracking

INPUT_PREALLOC = 16 << 20   # at most; never more than the tenant's max_body_bytes


@dataclasses.dataclass
class Snapshot:
    """A snapshot module and how it was taken."""

    wasm: bytes
    sha256: str
    input_ptr: int
    input_cap: int
    memory_bytes: int
    segments: int
    configure_ms: float      # instantiate + _initialize + edgehost_configure of the template
    take_ms: float           # reading the state and rewriting the module
    # the configured memory, until start_from() has made the version from it
    memory: bytes = dataclasses.field(default=b"", repr=False)
    global_bits: dict = dataclasses.field(default_factory=dict)  # mutable globals' raw bits
    # instance = "fresh": True when used instances are put back in place
    # (fresh_module), False when each request gets a new one; None otherwise
    fresh_in_place: bool | None = None
    fresh_note: str = ""


def served_module(original: bytes) -> bytes:
    """The module a new version is first served from: ``original`` with its
    mutable globals exported (or ``original`` itself when that is impossible;
    then it cannot be snapshotted)."""
    try:
        return wasm_binary.instrument(original)
    except (wasm_binary.Unsupported, wasm_binary.Malformed):
        return original


def _free(inst) -> None:
    close = getattr(inst, "close", None)
    if close is not None:
        close()
    else:  # an Instance whose native handle is an ffi.gc pointer
        ffi.release(inst.ptr)


def take(tenant, original: bytes, *, prealloc: int = INPUT_PREALLOC) -> Snapshot:
    """Snapshot a new configured instance of ``tenant`` (a Tenant loaded from
    :func:`served_module` of ``original``). Raises Unsupported/Malformed."""
    globs = wasm_binary.snapshot_globals(original)
    t0 = time.perf_counter()
    inst = tenant.instance()          # instantiated, _initialize and edgehost_configure run
    t1 = time.perf_counter()
    try:
        ptr = cap = 0
        want = min(prealloc, tenant.manifest.limits["max_body_bytes"])
        if want > 0:
            got = inst.call_raw("edgehost_alloc", want)[0] & 0xFFFFFFFF
            size = ffi.new("uint64_t *")
            lib.eh_instance_memory(inst.ptr, size)
            if got and got + want <= size[0]:
                ptr, cap = got, want
        size = ffi.new("uint64_t *")
        base = lib.eh_instance_memory(inst.ptr, size)
        memory = bytes(ffi.buffer(base, size[0]))
        bits = {}
        out = ffi.new("uint64_t *")
        for g in globs:
            name = wasm_binary.global_export_name(g.index)
            if lib.eh_instance_global_get(inst.ptr, name.encode(), out) < 0:
                raise wasm_binary.Unsupported(f"global {g.index} is not readable "
                                              "(module not instrumented)")
            bits[g.index] = out[0]
    finally:
        _free(inst)
    wasm = wasm_binary.snapshot(original, memory, bits)
    t2 = time.perf_counter()
    return Snapshot(wasm, hashlib.sha256(wasm).hexdigest(), ptr, cap, len(memory),
                    len(wasm_binary.memory_segments(memory)), (t1 - t0) * 1e3, (t2 - t1) * 1e3,
                    memory, bits)


def fresh_module(snap: Snapshot) -> bytes:
    """The module an ``instance = "fresh"`` tenant is served from: the
    snapshot rewritten to track its writes, or the snapshot itself when the
    rewrite refuses it (``snap.fresh_in_place`` / ``fresh_note`` say which)."""
    from edgehost.runtime.tenant import FRESH_IN_PLACE, FRESH_NEW

    try:
        wasm = write_tracking.track_writes(snap.wasm)
    except (wasm_binary.Unsupported, wasm_binary.Malformed) as exc:
        snap.fresh_in_place, snap.fresh_note = False, f"{FRESH_NEW}: {exc}"
        return snap.wasm
    snap.fresh_in_place, snap.fresh_note = True, FRESH_IN_PLACE
    return wasm


def apply_fresh_image(tenant, snap: Snapshot) -> None:
    """Used instances of ``tenant`` (loaded from :func:`fresh_module`'s
    rewrite of ``snap``) are put back to the snapshot's state after each
    request. Call before its first instance is made."""
    names = [ffi.new("char[]", wasm_binary.global_export_name(i).encode())
             for i in snap.global_bits]
    rc = lib.eh_tenant_set_fresh_image(
        tenant.native, ffi.from_buffer(snap.memory), len(snap.memory),
        write_tracking.DIRTY_EXPORT.encode(), len(names), ffi.new("char *[]", names or [ffi.NULL]),
        ffi.new("uint64_t[]", list(snap.global_bits.values()) or [0]))
    if rc < 0:
        raise MemoryError("no memory for the fresh-instance image")


def start_from(snap: Snapshot, configured, *, guest_options: dict | None = None):
    """A new Tenant: the version ``configured`` (a Tenant loaded from
    :func:`served_module`, which ``snap`` was taken of) started from ``snap``
    -- its module, its input buffer, and for ``instance = "fresh"`` the
    write-tracking rewrite with the image used instances are put back to
    (``snap.fresh_in_place`` says whether the rewrite took). It runs its
    kernels in ``configured``'s KVM guest. The caller runs its checks."""
    from edgehost.runtime.tenant import Tenant

    man = configured.manifest
    wasm = fresh_module(snap) if man.instance == "fresh" else snap.wasm
    tenant = Tenant(man, wasm=wasm, engine=configured.engine, store=configured.store,
                    guest_options=guest_options, guest_of=configured,
                    write_tracked=bool(snap.fresh_in_place))
    try:
        apply_input_buffer(tenant, snap)
        if snap.fresh_in_place:
            apply_fresh_image(tenant, snap)
    except BaseException:
        tenant.close()
        raise
    snap.memory = b""   # in the module's data segments (and the native image) now
    return tenant


def fresh_tenant(man, wasm: bytes | None = None, **tenant_kw):
    """An ``instance = "fresh"`` tenant as ``edgehost serve`` and
    :class:`~edgehost.reload.Registry` serve it, for the Python API
    (:func:`edgehost.load`): loaded from its instrumented module, configured
    once, snapshotted, and started from the snapshot with used instances put
    back in place after every call. Where the snapshot or the rewrite is
    refused, the snapshot form makes a new instance per call -- or, with no
    snapshot at all, the configured version does; ``tenant.fresh_note`` says
    which. ``wasm``: the module (default: the manifest's); ``tenant_kw`` go
    to :class:`~edgehost.runtime.tenant.Tenant`."""
    from edgehost.runtime.tenant import FRESH_NEW, Tenant, read_module

    original = wasm if wasm is not None else read_module(man)
    configured = Tenant(man, wasm=served_module(original), **tenant_kw)
    try:
        snap = take(configured, original)
    except (wasm_binary.Unsupported, wasm_binary.Malformed) as exc:
        configured.fresh_note = f"{FRESH_NEW}: no snapshot: {exc}"
        return configured
    except BaseException:
        configured.close()
        raise
    try:
        tenant = start_from(snap, configured, guest_options=tenant_kw.get("guest_options"))
    finally:
        configured.close()   # its guest stays with the snapshot form (Tenant(guest_of=...))
    tenant.fresh_note = snap.fresh_note
    return tenant


def apply_input_buffer(tenant, snap: Snapshot) -> None:
    """New instances of ``tenant`` (loaded from ``snap.wasm``) start with the
    snapshot's input buffer."""
    lib.eh_tenant_set_input_buffer(tenant.native, snap.input_ptr, snap.input_cap)
