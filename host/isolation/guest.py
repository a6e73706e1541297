"""Python owner of KVM guest handles (the C monitor in native_modules/vmm).

One :class:`Guest` owns one native ``eh_vm`` handle: a configuration plus,
booted lazily by the first call, one live KVM guest with its vCPU thread.
The owner frees it deterministically with :meth:`Guest.close` (idempotent;
also a context manager; ``ffi.gc`` as a last resort); any use after close
raises :class:`~edgehost.errors.GuestClosed`.

Who owns which guest:

* a loaded tenant with ``isolation = "kvm"`` creates its own guest, closed
  when its last version using it is retired (``edgehost.runtime.tenant``: a
  hot reload that changes only the tenant's ``[config]`` keeps the live
  version's guest); two tenants never share a guest, its lock or its time
  limit, whatever their names;
* calls that name no tenant (the CLI, the Python kernel API) share one guest,
  :func:`default_guest`, the only guest this module keeps.

A guest fault destroys that guest's VM inside the monitor and raises
:class:`~edgehost.errors.GuestFault`; the next call boots a fresh VM. A call
past its deadline raises :class:`~edgehost.errors.GuestTimeout` and the guest
is reset to its post-init snapshot (or, if the call ran on the caller's own
thread, replaced by a fresh one on the next call: ``stats()["replaced"]``).
Every outcome comes from one status enum (``eh_offload_status`` in
native_modules/include/eh_offload_sink.h), read
here from the cffi ``lib`` like every other monitor constant.

Large inputs without a per-call copy: a :class:`SharedBuffer` is memory the
guest reads in place. Fill it once, pass it (or a slice of it) to any kernel
function with ``isolation="kvm"``: the monitor finds it among its windows and
hands the kernel a guest address instead of copying (see
native_modules/vmm/windows.c). Tenants get the same for their linear memory
without asking.

The data plane (WASM host API -> guest) does not pass through here: C code
calls the monitor through the typed sink the tenant was given
(``eh_tenant_set_guest``).
"""

from __future__ import annotations

import mmap
import os
import pathlib
import threading

from edgehost import native_modules
from edgehost.errors import (
    GuestClosed,
    GuestFault,
    GuestTimeout,
    IsolationUnavailable,
    KernelError,
)
from edgehost.native import ffi, lib
from edgehost.native_modules import _fastcall
from edgehost.wasm_config import abi

GUEST_DIR = pathlib.Path(native_modules.__file__).resolve().parent / "guest"
IMAGE = GUEST_DIR / "edgehost-guest.elf"
TEST_IMAGE = GUEST_DIR / "edgehost-guest-test.elf"
DOORBELL_IMAGE = GUEST_DIR / "edgehost-guest-doorbell.elf"

PAGE_2M, PAGE_4K = lib.EH_GL_HUGE, lib.EH_GL_PAGE
KERNEL_NAMES = {v: k for k, v in abi.KERNELS.items()}

_ERRLEN = 256
# Guest calls over Python buffers (Guest.run_buffers) go through the CPython
# extension, not cffi (native_modules/fastcall/fastcall.c says why).
_fastcall.bind_guest(int(ffi.cast("uintptr_t", ffi.addressof(lib, "eh_vm_offload"))))


def kernel_name(kernel: int) -> str:
    """The ABI name of a kernel id (``crc32c``), for messages."""
    return KERNEL_NAMES.get(kernel, f"kernel {kernel}")


class Guest:
    """One KVM guest and its configuration (see the module docstring).

    ``mem_mb`` is the guest's RAM and its memory cap; ``time_limit_ms`` bounds
    every call (a caller's own deadline may cut it shorter); ``idle_spin_us``
    is how long the vCPU keeps polling for the next call before it exits and
    parks (0: exit after every call, the full host reset runs each time; a
    guest created by a thread allowed on one CPU only never polls, since it
    would take that CPU from its caller: ``stats()["idle_spin_us"]`` says
    what is in effect; the window in use adapts between that and 4x it,
    ``stats()["idle_window_us"]``, see native_modules/vmm/README.md);
    ``page_size`` maps the scratch memory with 2 MiB or 4 KiB pages;
    ``cold_on_caller``: who serves a call that finds the guest parked --
    None (default) the path this process measured faster on this machine,
    True the calling thread itself, False the woken vCPU thread (see
    native_modules/vmm/cold_call.c and :func:`cold_paths`). Calls from several threads are
    serialised by the monitor (one call at a time per guest).
    """

    def __init__(self, *, mem_mb: int = 256, time_limit_ms: int = 1000,
                 idle_spin_us: int = 100, page_size: int = PAGE_2M,
                 image: str | os.PathLike | None = None, variant: str | None = None,
                 cold_on_caller: bool | None = None):
        self.time_limit_ms = time_limit_ms
        self.mem_mb = mem_mb
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
        cfg.flags = {None: 0, True: lib.EH_VM_F_COLD_ON_CALLER,
                     False: lib.EH_VM_F_COLD_ON_VCPU_THREAD}[cold_on_caller]
        cfg.image_path = self._path
        cfg.variant = self._variant
        out = ffi.new("eh_vm **")
        err = ffi.new("char[]", _ERRLEN)
        self._vm = None
        self._lock = threading.Lock()
        self._inflight = 0      # calls inside the monitor right now
        self._closing = False
        self._tls = threading.local()
        rc = lib.eh_vm_create(cfg, out, err, _ERRLEN)
        if rc:
            raise IsolationUnavailable("kvm", ffi.string(err).decode(errors="replace"))
        self._vm = ffi.gc(out[0], lib.eh_vm_destroy)
        self._addr = int(ffi.cast("uintptr_t", self._vm))  # for run_buffers

    # -- lifetime -------------------------------------------------------------
    def close(self) -> None:
        """Close the guest (idempotent): no new call is accepted
        (:class:`~edgehost.errors.GuestClosed`); calls already inside the
        monitor finish, and the last of them drops this owner's hold on the
        VM. The VM is destroyed then, unless a native tenant still runs its
        kernels there (it goes when that tenant is freed)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            if not self._inflight:
                self._drop()

    def _drop(self) -> None:
        vm, self._vm = self._vm, None
        if vm is not None:
            ffi.release(vm)

    @property
    def closed(self) -> bool:
        return self._closing

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def handle(self):
        """The native ``eh_vm *``; :class:`~edgehost.errors.GuestClosed` after close."""
        if self._closing or self._vm is None:
            raise GuestClosed()
        return self._vm

    def _begin(self):
        """The handle, for one call into the monitor (counted until _end)."""
        with self._lock:
            if self._closing:
                raise GuestClosed()
            self._inflight += 1
            return self._vm

    def _end(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._closing and not self._inflight:
                self._drop()

    def _errbuf(self):
        """This thread's error buffer (calls from several threads run at once)."""
        err = getattr(self._tls, "err", None)
        if err is None:
            err = self._tls.err = ffi.new("char[]", _ERRLEN)
        return err

    def _run(self, fn, *args, what: str) -> None:
        """fn(vm, *args, err, errlen) -> status, as one counted call."""
        err = self._errbuf()
        vm = self._begin()
        try:
            rc = fn(vm, *args, err, _ERRLEN)
            if rc:
                self._raise(rc, what, vm, ffi.string(err).decode(errors="replace"))
        finally:
            self._end()

    def boot(self) -> None:
        """Boot the VM now instead of on the first call."""
        self._run(lib.eh_vm_boot, what="boot")

    # -- calls ----------------------------------------------------------------
    def offload(self, req, res, *, deadline_ns: int = 0) -> None:
        """Run ``req`` (``eh_offload_req *`` with HOST pointers) in the guest,
        filling ``res``; ``deadline_ns`` (CLOCK_MONOTONIC, 0 = none) cuts the
        call short of the guest's time limit."""
        self._run(lib.eh_vm_offload, req, res, deadline_ns, what=kernel_name(req.kernel))

    def run_buffers(self, kernel: int, flags: int, arg0: int, arg1: int, data, data2,
                    out) -> tuple[int, int, int, int, int]:
        """One kernel call over Python buffers -- ``data``/``data2`` readable
        (copied in, or read in place where they lie in a :class:`SharedBuffer`
        of this guest), ``out`` writable, each None when unused -- without
        cffi objects (the kernel API's path). Returns ``(status, detail,
        value, out_len, err_offset)``; a monitor failure raises as
        :meth:`offload`, an argument that is no buffer BufferError/TypeError."""
        vm = self._begin()
        try:
            rc, *res, msg = _fastcall.offload(self._addr, kernel, flags, arg0, arg1,
                                              data, data2, out)
            if rc:
                self._raise(rc, kernel_name(kernel), vm, msg)
        finally:
            self._end()
        return tuple(res)

    def call_op(self, op: int, req, res, *, deadline_ns: int = 0) -> None:
        """Run a runtime op (``lib.EH_OP_*``; test ops need :data:`TEST_IMAGE`),
        by ``deadline_ns`` as :meth:`offload`."""
        self._run(lib.eh_vm_call_op, op, req, res, deadline_ns, what=f"op {op:#x}")

    def repeat(self, req, res, n: int) -> None:
        """One call that runs ``req`` ``n`` times inside the guest (input copied once)."""
        self._run(lib.eh_vm_call_repeat, req, n, res, what=kernel_name(req.kernel))

    def fits(self, in_len: int, in2_len: int = 0, out_cap: int = 0) -> bool:
        """Whether inputs of these sizes, copied, and an output of ``out_cap``
        bytes fit the guest's scratch memory."""
        return bool(lib.eh_vm_fits(self.handle, in_len, in2_len, out_cap))

    def ping(self, n: int) -> float:
        """Bare exit round trip: nanoseconds per guest exit over ``n`` exits."""
        total = ffi.new("uint64_t *")
        self._run(lib.eh_vm_ping, n, total, what="ping")
        return total[0] / max(n, 1)

    def wait_parked(self, timeout_ms: int = 1000) -> bool:
        """Wait until the vCPU has left the guest and parked; False on timeout."""
        vm = self._begin()
        try:
            return lib.eh_vm_wait_parked(vm, timeout_ms) == 0
        finally:
            self._end()

    # -- windows --------------------------------------------------------------
    def share(self, nbytes: int) -> SharedBuffer:
        """A new :class:`SharedBuffer` of ``nbytes`` this guest reads in place."""
        return SharedBuffer(nbytes, self)

    # -- observability --------------------------------------------------------
    def stats(self) -> dict:
        """Counters of this handle (calls, exits, resets, timings in ns, ...)."""
        st = ffi.new("eh_vm_stats *")
        vm = self._begin()
        try:
            lib.eh_vm_get_stats(vm, st)
        finally:
            self._end()
        return {name: getattr(st, name) for name, _ in ffi.typeof("eh_vm_stats").fields}

    def last_log(self) -> str:
        """The last line the guest logged."""
        buf = ffi.new("char[]", 512)
        vm = self._begin()
        try:
            lib.eh_vm_last_log(vm, buf, 512)
        finally:
            self._end()
        return ffi.string(buf).decode(errors="replace")

    def _raise(self, rc: int, what: str, vm, msg: str) -> None:
        """Raise the typed error for a monitor status (one table:
        eh_offload_status) and its error text ``msg``."""
        if rc == lib.EH_OFFLOAD_FAULT:
            buf = ffi.new("char[]", 256)
            addr = ffi.new("uint64_t *")
            has = lib.eh_vm_last_fault(vm, buf, 256, addr)
            raise GuestFault(ffi.string(buf).decode(errors="replace") or msg,
                             addr[0] if has else None)
        if rc == lib.EH_OFFLOAD_TIMEOUT and msg.startswith("guest did not initialise"):
            raise IsolationUnavailable("kvm", msg)  # the boot hung, not this call
        if rc == lib.EH_OFFLOAD_TIMEOUT:
            raise GuestTimeout(self.time_limit_ms, what, detail=msg)
        if rc in (lib.EH_OFFLOAD_TOO_LARGE, lib.EH_OFFLOAD_INVALID):
            raise KernelError(what, rc, msg)
        raise IsolationUnavailable("kvm", msg)


class SharedBuffer:
    """Page-aligned memory that a guest reads in place: large kernel inputs
    placed here reach the kernel from the first call without a copy.

    Created zero-filled (``mmap``, 2 MiB-aligned so the guest maps it with
    large pages) and attached to ``guest`` (default: :func:`default_guest`,
    the one the kernel API's ``isolation="kvm"`` calls use) as one of its
    read-only windows. It supports the buffer protocol (``memoryview(buf)``
    is writable from Python): fill it, then pass it or any slice of it as a
    kernel input. ``close()`` detaches and unmaps it (idempotent; also a
    context manager); a guest has at most ``lib.EH_GL_WINDOWS`` windows.

    Example::

        from edgehost.isolation.guest import SharedBuffer
        from edgehost.kernels import crc32c
        with SharedBuffer(len(data)) as buf:
            buf[:len(data)] = data
            crc = crc32c(buf.view[:len(data)], isolation="kvm")   # read in place
    """

    def __init__(self, nbytes: int, guest: Guest | None = None):
        if nbytes <= 0 or nbytes > lib.EH_GL_MAP_MAX:
            raise ValueError(f"a shared buffer holds 1..{lib.EH_GL_MAP_MAX} bytes, "
                             f"not {nbytes}")
        self.guest = guest or default_guest()
        huge = lib.EH_GL_HUGE
        size = (nbytes + huge - 1) // huge * huge
        # Private anonymous memory: transparent huge pages apply to it (to a
        # shared anonymous mapping -- shmem -- only where shmem_enabled says
        # so, which it does not by default), and the guest's shadow/EPT
        # entries are 2 MiB only where the host's pages are.
        self._raw = mmap.mmap(-1, size + huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        base = int(ffi.cast("uintptr_t", ffi.from_buffer(self._raw)))
        self._off = -base % huge
        self._raw.madvise(mmap.MADV_HUGEPAGE, self._off, size)
        self.nbytes = nbytes
        self._size = size
        self._ptr = ffi.cast("void *", base + self._off)
        self.view = memoryview(self._raw)[self._off:self._off + nbytes]
        rc = lib.eh_vm_attach(self.guest.handle, self._ptr, size, lib.EH_VM_ATTACH_NOW)
        if rc:
            self.view.release()
            self._raw.close()
            raise IsolationUnavailable("kvm", "no free window to share a buffer with the guest "
                                       f"({lib.EH_GL_WINDOWS} at most)" if
                                       rc == lib.EH_OFFLOAD_TOO_LARGE else
                                       f"sharing a buffer failed (status {rc})")

    def __buffer__(self, flags):  # Python 3.12+
        return self.view

    def __len__(self) -> int:
        return self.nbytes

    def __getitem__(self, key):
        return self.view[key]

    def __setitem__(self, key, value) -> None:
        self.view[key] = value

    def close(self) -> None:
        """Detach from the guest (idempotent): from now on the guest cannot
        read it. The memory is unmapped now, or, while views of it are still
        held elsewhere, when the last one goes."""
        if self._raw is None:
            return
        if not self.guest.closed:
            lib.eh_vm_detach(self.guest.handle, self._ptr)
        raw, self._raw = self._raw, None
        try:
            self.view.release()
            raw.close()
        except BufferError:
            pass  # a caller still holds a view: the mapping goes with it

    def __enter__(self) -> SharedBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# The CLI's and the Python kernel API's guest: the only guest kept here.
DEFAULT_GUEST_MB = lib.EH_GL_MEM_MAX >> 20
# Its per-call limit (guest CPU time): the caller's own data, up to the
# guest's whole memory, so more room than a tenant guest's 1 s -- a 250 MiB
# JSON document took over 1 s in the guest on a loaded Zen 3 under PVM
# (first touches of its pages are shadow faults there).
DEFAULT_GUEST_TIME_LIMIT_MS = 10_000
_default: Guest | None = None
_default_lock = threading.Lock()


def default_guest() -> Guest:
    """The guest shared by calls that name no tenant (CLI, Python kernel API),
    created on first use with the largest memory a guest may have (it is
    reserved, not committed: pages cost only once touched) and a per-call
    limit of DEFAULT_GUEST_TIME_LIMIT_MS."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Guest(mem_mb=DEFAULT_GUEST_MB, time_limit_ms=DEFAULT_GUEST_TIME_LIMIT_MS)
        return _default


def close_default() -> None:
    """Close the shared guest (tests, shutdown); the next use creates another."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
            _default = None


def cold_paths() -> dict:
    """This process's measure of the two ways a parked guest is entered
    (native_modules/vmm/cold_call.c): ``{"caller": {"avg_ns", "samples"},
    "wake": {...}, "faster": "caller" | "wake" | None}``; None until both
    have been sampled (EH_VM_COLD_FIRST small cold calls each)."""
    avg = ffi.new("uint64_t[2]")
    n = ffi.new("uint64_t[2]")
    lib.eh_vm_cold_paths(avg, n)
    out = {k: {"avg_ns": int(avg[i]), "samples": int(n[i])}
           for i, k in enumerate(("caller", "wake"))}
    out["faster"] = (None if min(n[0], n[1]) < lib.EH_VM_COLD_FIRST else
                     "caller" if avg[0] <= avg[1] else "wake")
    return out


def set_cold_paths(paths: dict) -> None:
    """Replace this process's measure of the two cold paths with ``paths``
    (the shape :func:`cold_paths` returns; tests, or a process that knows
    its machine). Fewer than EH_VM_COLD_FIRST samples on a path send small
    cold calls to it again until it has that many."""
    lib.eh_vm_cold_paths_set(
        ffi.new("uint64_t[2]", [paths["caller"]["avg_ns"], paths["wake"]["avg_ns"]]),
        ffi.new("uint64_t[2]", [paths["caller"]["samples"], paths["wake"]["samples"]]))


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
        req.kernel = abi.KERNELS["crc32c"]
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


__all__ = ["Guest", "SharedBuffer", "default_guest", "close_default", "probe", "cold_paths",
           "set_cold_paths", "kernel_name", "IMAGE", "TEST_IMAGE", "DOORBELL_IMAGE", "PAGE_2M",
           "PAGE_4K"]
