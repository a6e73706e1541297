"""Shared plumbing for the kernel wrappers: building a request, running it
under an isolation policy, and turning a status into a KernelError."""

from __future__ import annotations

from host import offload
from host.errors import KernelError
from host.native import ffi

STATUS_MESSAGES = {
    -1: "invalid arguments",
    -2: "output buffer too small",
    -3: "malformed input",
    -4: "not supported",
    -5: "nesting too deep",
    -6: "not found",
}


def default_isolation() -> str:
    """``kvm`` where /dev/kvm works, else ``inproc`` (and the log says so)."""
    from host import isolation

    return isolation.default()


def call(kernel_name: str, kernel_id: int, *, isolation: str | None = None,
         data: bytes = b"", data2: bytes = b"", out_cap: int = 0,
         args: tuple[int, ...] = (), flags: int = 0):
    """Run one kernel; return ``(res, out_bytes)``. Raises KernelError on status < 0."""
    iso = isolation or default_isolation()
    req = ffi.new("eh_offload_req *")
    res = ffi.new("eh_offload_res *")
    req.kernel = kernel_id
    req.flags = flags
    for i, a in enumerate(args):
        req.arg[i] = a
    inbuf = ffi.from_buffer(data)
    in2buf = ffi.from_buffer(data2)
    out = ffi.new("uint8_t[]", max(out_cap, 1))
    req.__setattr__("in", int(ffi.cast("uintptr_t", inbuf)))
    req.in_len = len(data)
    req.in2 = int(ffi.cast("uintptr_t", in2buf))
    req.in2_len = len(data2)
    req.out = int(ffi.cast("uintptr_t", out))
    req.out_cap = out_cap
    offload.run(req, res, iso)
    if res.status < 0:
        off = res.err_offset if res.status == -3 else None
        raise KernelError(kernel_name, res.status,
                          STATUS_MESSAGES.get(res.status, f"status {res.status}"), offset=off)
    return res, bytes(ffi.buffer(out, min(res.out_len, out_cap)))
