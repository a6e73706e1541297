"""A tenant's kernel call gives the same answer under isolation kvm and
inproc when its output ends one byte before the end of its memory (issue 16
item 11: in process answered EINVAL for a misaligned output where the guest,
which copies it to aligned scratch, answered ENOSPC or success)."""

from __future__ import annotations

import struct

import pytest

from edgehost.wasm_config import abi
from tests.support import wat_tenant

pytestmark = pytest.mark.kvm

PAGES = 2
MEM_END = PAGES * 65536
BODY = 65536  # where edgehost_alloc puts the request body
# The body is [wasm offload request: 64 bytes][result: 32 bytes][inputs...];
# the handler runs edgehost.offload on it and returns the kernel status.
WAT = f"""
  (import "edgehost" "offload" (func $off (param i32 i32) (result i32)))
  (memory (export "memory") {PAGES})
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const {BODY}))
  (func (export "run") (param $p i32) (param $n i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $off (local.get $p) (i32.add (local.get $p) (i32.const 64))))
    (if (i32.ne (local.get $rc) (i32.const 0))
      (then (return (i32.sub (i32.const -1000) (local.get $rc)))))
    (i32.load (i32.add (local.get $p) (i32.const 64))))
"""
KERNELS = ["csv-index", "csv-fields", "json-minify", "vec-axpy", "vec-matvec", "vec-topk"]
CSV = b'a,b,"c,d"\n1,2,3\n"x""y",,z\n'
VEC = struct.pack("<8f", *range(8))


def _request(kernel: str, data: bytes, data2: bytes, out_cap: int, args=(), flags=0):
    """A body whose output range ends one byte before the end of memory."""
    a = (list(args) + [0, 0, 0, 0])[:4]
    in_at = BODY + 96
    in2_at = in_at + len(data)
    out_at = MEM_END - 1 - out_cap
    req = struct.pack("<II4Q6I", abi.KERNELS[kernel], flags, *a, in_at, len(data), in2_at,
                      len(data2), out_at, out_cap)
    return req + bytes(32) + data + data2


CASES = [
    ("csv-index", CSV, b"", 4 * 12, ()),         # fits exactly
    ("csv-index", CSV, b"", 4 * 11, ()),         # ENOSPC
    ("csv-fields", CSV, b"", 4 * 12 + len(CSV), ()),
    ("csv-fields", CSV, b"", 4 * 12 + len(CSV) - 1, ()),
    ("vec-axpy", VEC, VEC, len(VEC), (struct.unpack("<I", struct.pack("<f", 2.0))[0],)),
    ("vec-axpy", VEC, VEC, len(VEC) - 4, (0,)),
    ("vec-matvec", VEC, VEC[:16], 8, ()),
    ("vec-matvec", VEC, VEC[:16], 7, ()),
    ("vec-topk", VEC, VEC[:8], 32, (4, 0)),
    ("vec-topk", VEC, VEC[:8], 31, (4, 2)),
]


@pytest.mark.parametrize(("kernel", "data", "data2", "cap", "args"), CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_output_at_the_end_of_memory_same_answer_in_both_isolations(kernel, data, data2, cap,
                                                                   args):
    body = _request(kernel, data, data2, cap, args)
    got = {}
    for iso in ("inproc", "kvm"):
        t = wat_tenant(WAT, name=f"placement-{iso}", isolation=iso, kernels=KERNELS)
        try:
            got[iso] = t.call("run", body, check=False).status
        finally:
            t.close()
    assert got["inproc"] == got["kvm"], got
    assert got["inproc"] in (0, -2), got  # success or ENOSPC, never EINVAL
