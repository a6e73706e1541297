"""Python owner of KVM guest handles (the C monitor in native_modules/vmm).

One :class:`Guest` wraps one native ``eh_vm`` handle: a configuration plus,
booted lazily by the first call, one live KVM guest with its vCPU thread. The
handle is freed deterministically by :meth:`Guest.close` (or the ``with``
block, or garbage collection as a last resort via ``ffi.gc``).

Each tenant gets its own guest (:func:`tenant_guest`), created on first use;
calls without a tenant (the CLI, the Python kernel API) share the ``"_cli"``
guest. A guest fault destroys that tenant's VM inside the monitor and raises
:class:`~host.errors.GuestFault`; the next call boots a fresh VM. A call past
its time limit raises :class:`~host.errors.GuestTimeout` and the guest is
reset to its post-init snapshot.

The data plane (WASM host API -> guest) does not pass through here: C code
calls ``eh_vm_offload`` directly with the pointers from :meth:`Guest.offload_sink`.
"""

from __future__ import annotations

import os
import pathlib
import threading

from edgehost import native_modules
from edgehost.errors import GuestFault, GuestTimeout, IsolationUnavailable, KernelError
from edgehost.native import ffi, lib

GUEST_DIR = pathlib.Path(native_modules.__file__).resolve().parent / "guest"
IMAGE = GUEST_DIR / "edgehost-guest.elf"
TEST_IMAGE = GUEST_DIR / "edgehost-guest-test.elf"

# Return codes of the monitor (native_modules/vmm/ffi.h).
EFAULT, ETIMEOUT, ETOOBIG, EINVAL, ESYS = -1, -2, -3, -4, -5
PAGE_2M, PAGE_4K = 2 << 20, 4096

# Runtime ops (include/eh_guest_layout.h, enum eh_guest_op).
OP_OFFLOAD, OP_PING = 0, 1
OP_TEST_READ, OP_TEST_WRITE, OP_TEST_LOOP, OP_TEST_PORT = 0x100, 0x101, 0x102, 0x103
OP_TEST_HLT, OP_TEST_STASH, OP_TEST_PEEK, OP_TEST_DIRTY = 0x104, 0x105, 0x106, 0x107
OP_TEST_LOG, OP_TEST_ABORT, OP_TEST_JUMP, OP_TEST_OUT = 0x108, 0x109, 0x10A, 0x10B
OP_TEST_SYSCALL, OP_TEST_ROGUE = 0x10C, 0x10D

_ERRLEN = 256
_KERNEL_NAMES = {0: "nop", 1: "crc32c", 15: "stream"}


class Guest:
    """One tenant's KVM guest (see the module docstring).

    ``mem_mb`` is the guest's RAM and its memory cap; ``time_limit_ms`` bounds
    every call; ``idle_spin_us`` is how long the vCPU keeps polling for the
    next call before it exits and parks (0: exit after every call, the full
    host reset runs each time); ``page_size`` maps the scratch memory with
    2 MiB or 4 KiB pages; ``cold_on_caller`` lets a call that finds the guest
    parked run it on the calling thread (False: wake the vCPU thread; see
    native_modules/vmm/cold_call.c). Not for concurrent use from several
    threads at once beyond what the monitor serialises (one call at a time
    per guest).
    """

    def __init__(self, *, mem_mb: int = 256, time_limit_ms: int = 1000,
                 idle_spin_us: int = 100, page_size: int = PAGE_2M,
                 image: str | os.PathLike | None = None, variant: str | None = None,
                 cold_on_caller: bool = True):
        self.time_limit_ms = time_limit_ms
        self.image = pathlib.Path(image) if image else IMAGE
        if variant is None:
            variant = os.environ.get("EDGEHOST_KERNEL_VARIANT") or None
        self._path = ffi.new("char[]", os.fsencode(self.image))
        self._variant = ffi.new("char[]", variant.encode()) if variant else ffi.NULL
        cfg = ffi.new("eh_vm_config *")
        cfg.mem_bytes = mem_mb << 20
        cfg.time_limit_ms = time_limit_ms
        cfg.idle_spin_us = idle_spin_us
        cfg.page_size = page_size
        cfg.flags = 0 if cold_on_caller else lib.EH_VM_F_COLD_ON_VCPU_THREAD
        cfg.image_path = self._path
        cfg.variant = self._variant
        out = ffi.new("eh_vm **")
        err = ffi.new("char[]", _ERRLEN)
        rc = lib.eh_vm_create(cfg, out, err, _ERRLEN)
        if rc:
            raise IsolationUnavailable("kvm", ffi.string(err).decode(errors="replace"))
        self._vm = ffi.gc(out[0], lib.eh_vm_destroy)
        self._err = ffi.new("char[]", _ERRLEN)

    # -- lifetime -------------------------------------------------------------
    def close(self) -> None:
        """Destroy the VM and free the handle now (idempotent)."""
        vm, self._vm = getattr(self, "_vm", None), None
        if vm is not None:
            ffi.release(vm)

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def handle(self):
        """The native ``eh_vm *`` (raises if closed)."""
        if self._vm is None:
            raise IsolationUnavailable("kvm", "guest handle already closed")
        return self._vm

    def boot(self) -> None:
        """Boot the VM now instead of on the first call."""
        self._check(lib.eh_vm_boot(self.handle, self._err, _ERRLEN), "boot")

    # -- calls ----------------------------------------------------------------
    def offload(self, req, res) -> None:
        """Run ``req`` (``eh_offload_req *`` with HOST pointers) in the guest, filling ``res``."""
        rc = lib.eh_vm_offload(self.handle, req, res, self._err, _ERRLEN)
        if rc:
            self._check(rc, _KERNEL_NAMES.get(req.kernel, f"kernel {req.kernel}"))

    def call_op(self, op: int, req, res) -> None:
        """Run a runtime op (``OP_*``; test ops need :data:`TEST_IMAGE`)."""
        rc = lib.eh_vm_call_op(self.handle, op, req, res, self._err, _ERRLEN)
        if rc:
            self._check(rc, f"op {op:#x}")

    def repeat(self, req, res, n: int) -> None:
        """One call that runs ``req`` ``n`` times inside the guest (input copied once)."""
        rc = lib.eh_vm_call_repeat(self.handle, req, n, res, self._err, _ERRLEN)
        if rc:
            self._check(rc, _KERNEL_NAMES.get(req.kernel, f"kernel {req.kernel}"))

    def ping(self, n: int) -> float:
        """Bare exit round trip: nanoseconds per guest exit over ``n`` exits."""
        total = ffi.new("uint64_t *")
        self._check(lib.eh_vm_ping(self.handle, n, total, self._err, _ERRLEN), "ping")
        return total[0] / max(n, 1)

    def wait_parked(self, timeout_ms: int = 1000) -> bool:
        """Wait until the vCPU has left the guest and parked; False on timeout."""
        return lib.eh_vm_wait_parked(self.handle, timeout_ms) == 0

    def stats(self) -> dict:
        """Counters of this handle (calls, exits, resets, timings in ns, ...)."""
        st = ffi.new("eh_vm_stats *")
        lib.eh_vm_get_stats(self.handle, st)
        return {name: getattr(st, name) for name, _ in ffi.typeof("eh_vm_stats").fields}

    def last_log(self) -> str:
        """The last line the guest logged."""
        buf = ffi.new("char[]", 512)
        lib.eh_vm_last_log(self.handle, buf, 512)
        return ffi.string(buf).decode(errors="replace")

    def offload_sink(self):
        """``(fn, forget, ctx)`` for C callers (the wasm host API):
        ``fn(ctx, req, res, mem, mem_len, err, errlen)`` is ``eh_vm_offload_in``,
        ``forget(ctx, mem)`` is ``eh_vm_forget`` (native_modules/vmm/input_window.c).

        ``ctx`` is this guest's handle: calls need it valid until :meth:`close`
        (the per-tenant registry keeps tenant guests alive until
        :func:`close_all`); ``forget`` is safe even after that."""
        return (ffi.cast("void *", ffi.addressof(lib, "eh_vm_offload_in")),
                ffi.cast("void *", ffi.addressof(lib, "eh_vm_forget")),
                ffi.cast("void *", self.handle))

    def _check(self, rc: int, what: str) -> None:
        if rc == 0:
            return
        msg = ffi.string(self._err).decode(errors="replace")
        if rc == EFAULT:
            buf = ffi.new("char[]", 256)
            addr = ffi.new("uint64_t *")
            has = lib.eh_vm_last_fault(self.handle, buf, 256, addr)
            raise GuestFault(ffi.string(buf).decode(errors="replace") or msg,
                             addr[0] if has else None)
        if rc == ETIMEOUT and msg.startswith("guest did not initialise"):
            raise IsolationUnavailable("kvm", msg)  # the boot hung, not this call
        if rc == ETIMEOUT:
            raise GuestTimeout(self.time_limit_ms, what)
        if rc in (ETOOBIG, EINVAL):
            raise KernelError(what, rc, msg)
        raise IsolationUnavailable("kvm", msg)


_guests: dict[str, Guest] = {}
_guests_lock = threading.Lock()


def tenant_guest(tenant: str, *, deadline_ms: int | None = None, **config) -> Guest:
    """The guest of ``tenant``, created on first use with ``config`` (see :class:`Guest`)."""
    with _guests_lock:
        g = _guests.get(tenant)
        if g is None or g._vm is None:
            if deadline_ms:
                config.setdefault("time_limit_ms", int(deadline_ms))
            g = _guests[tenant] = Guest(**config)
        return g


def default_guest() -> Guest:
    """The guest shared by calls that name no tenant (CLI, Python kernel API)."""
    return tenant_guest("_cli")


def close_all() -> None:
    """Destroy every tenant guest (tests, shutdown)."""
    with _guests_lock:
        for g in _guests.values():
            g.close()
        _guests.clear()


def probe() -> dict:
    """Create a VM, run one real CRC32C call in it and compare with in-process.

    Returns ``{"ok": bool, "detail": str}`` (what ``edgehost doctor`` shows).
    """
    from edgehost.kernels.crc32c import crc32c

    data = b"123456789"
    with Guest(idle_spin_us=0) as g:
        req = ffi.new("eh_offload_req *")
        res = ffi.new("eh_offload_res *")
        buf = ffi.from_buffer(data)
        req.kernel = 1
        setattr(req, "in", int(ffi.cast("uintptr_t", buf)))
        req.in_len = len(data)
        g.offload(req, res)
        st = g.stats()
    want = crc32c(data, isolation="inproc")
    got = res.value & 0xFFFFFFFF
    ok = res.status == 0 and got == want
    detail = (f"crc32c in a ring-3 KVM guest = {got:08x} ({'matches' if ok else 'DIFFERS from'} "
              f"in-process {want:08x}); VM boot {st['last_create_ns'] / 1e6:.2f} ms")
    return {"ok": ok, "detail": detail}


__all__ = ["Guest", "tenant_guest", "default_guest", "close_all", "probe", "IMAGE",
           "TEST_IMAGE"]
