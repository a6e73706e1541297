"""Helpers shared by the tests -- the one module tests import from (conftest.py
holds fixtures and the KVM gate only; no test imports another test module).

* paths: :data:`REPO`, :data:`EXAMPLES`; :func:`built_tenant` (a copy of a
  tenant directory, built and loaded);
* tenants from WAT text: :func:`wat_tenant`, and the host-API probe tenant
  :func:`hostapi_tenant` (every import behind one handler each) with
  :func:`ints` / :func:`i32` to build and read its arguments;
* the CLI as a user runs it: :func:`run_cli`, :func:`assert_one_line_error`;
* the KVM gate's test, :func:`kvm_skip_reason`; kernel variants as test
  parameters, :func:`native_variants`; a raw guest call, :func:`request`;
* :class:`Resources`: what a leak shows up in -- resident memory, file
  descriptors, threads and live KVM VMs/vCPUs of this process -- measured at
  two points and compared within a stated slack.
* :func:`import_decls` / :func:`caller_module`: WAT text generated from the
  ABI's import table (wasm_config/abi.py), so a new import is attacked
  without editing the tests.
* ``edgehost serve`` over real sockets: :func:`build_tenants`,
  :class:`Server`, :func:`get`, :func:`metric`, :class:`Load`,
  :func:`hammer`, :func:`free_port`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import wasmtime

from edgehost.wasm_config import abi

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# The prologue every hand-written test tenant needs (ABI v1 required exports).
ABI_PROLOGUE = """
  (memory (export "memory") 2)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 4096))
"""


def wat_tenant(body: str, *, name: str = "wat-test", tmp: pathlib.Path | None = None,
               engine=None, **manifest):
    """A Tenant from a WAT module body (imports + handlers), inproc isolation by
    default, on ``engine`` (default: the process's shared engine)."""
    from edgehost.runtime.tenant import Tenant
    from edgehost.wasm_config import manifest as manifest_mod

    text = body if "edgehost_alloc" in body else f"{body} {ABI_PROLOGUE}"
    wasm = wasmtime.wat2wasm(f"(module {text})")
    data = {"name": name, "isolation": "inproc", **manifest}
    base = tmp or pathlib.Path("/nonexistent-test-dir")
    man = manifest_mod.from_dict(data, base / "edgehost.toml")
    return Tenant(man, wasm=bytes(wasm), engine=engine)


HOSTAPI_IMPORTS = """
  (import "edgehost" "abi_nop" (func $nop))
  (import "edgehost" "log" (func $log (param i32 i32 i32)))
  (import "edgehost" "time_monotonic_ns" (func $mono (result i64)))
  (import "edgehost" "time_wall_ns" (func $wall (result i64)))
  (import "edgehost" "random_fill" (func $rand (param i32 i32) (result i32)))
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (import "edgehost" "config_get" (func $cfg (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_get" (func $kvget (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_put" (func $kvput (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_delete" (func $kvdel (param i32 i32) (result i32)))
  (import "edgehost" "request_method" (func $method (param i32 i32) (result i32)))
  (import "edgehost" "request_path" (func $path (param i32 i32) (result i32)))
  (import "edgehost" "request_query" (func $query (param i32 i32) (result i32)))
  (import "edgehost" "request_header" (func $header (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "request_headers" (func $headers (param i32 i32) (result i32)))
  (import "edgehost" "request_body" (func $body (param i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_status" (func $status (param i32) (result i32)))
  (import "edgehost" "response_set_header" (func $sethdr (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_body" (func $setbody (param i32 i32) (result i32)))
  (import "edgehost" "offload" (func $offload (param i32 i32) (result i32)))
"""

# The input (request body) is written at 4096 by the host (edgehost_alloc).
# Handlers below read their arguments as little-endian i32s from the input and
# answer with i32/i64 results packed at 0..64, returned as the body.
HOSTAPI_HANDLERS = """
  (func $ret32 (param $v i32) (result i32)
    (i32.store (i32.const 0) (local.get $v))
    (drop (call $setbody (i32.const 0) (i32.const 4))) (i32.const 0))
  (func $arg (param $p i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4)))))

  (func (export "nop") (param $p i32) (param $n i32) (result i32)
    (call $nop) (i32.const 0))
  ;; log(level, ptr, len) with arguments from the input
  (func (export "log") (param $p i32) (param $n i32) (result i32)
    (call $log (call $arg (local.get $p) (i32.const 0)) (call $arg (local.get $p) (i32.const 1))
               (call $arg (local.get $p) (i32.const 2)))
    (i32.const 0))
  (func (export "times") (param $p i32) (param $n i32) (result i32)
    (i64.store (i32.const 0) (call $mono))
    (i64.store (i32.const 8) (call $mono))
    (i64.store (i32.const 16) (call $wall))
    (drop (call $setbody (i32.const 0) (i32.const 24))) (i32.const 0))
  (func (export "random") (param $p i32) (param $n i32) (result i32)
    (drop (call $rand (i32.const 0) (i32.const 32)))
    (drop (call $setbody (i32.const 0) (i32.const 32))) (i32.const 0))
  ;; crc32c of the whole input
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (call $ret32 (call $crc (local.get $p) (local.get $n) (i32.const 0))))
  ;; crc32c(ptr, len) with ptr/len from the input: the bounds-check probe
  (func (export "crc_at") (param $p i32) (param $n i32) (result i32)
    (call $ret32 (call $crc (call $arg (local.get $p) (i32.const 0))
                            (call $arg (local.get $p) (i32.const 1)) (i32.const 0))))
  ;; config_get(key = input, out = 64.., cap = first byte? no: cap 64); body = rc + value
  (func (export "cfg") (param $p i32) (param $n i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $cfg (local.get $p) (local.get $n) (i32.const 68) (i32.const 16)))
    (i32.store (i32.const 64) (local.get $rc))
    (drop (call $setbody (i32.const 64) (i32.const 20))) (i32.const 0))
  ;; kv: input = op(i32) klen(i32) vlen(i32) key value ; body = rc + value (get)
  (func (export "kv") (param $p i32) (param $n i32) (result i32)
    (local $op i32) (local $kl i32) (local $vl i32) (local $k i32) (local $rc i32)
    (local.set $op (call $arg (local.get $p) (i32.const 0)))
    (local.set $kl (call $arg (local.get $p) (i32.const 1)))
    (local.set $vl (call $arg (local.get $p) (i32.const 2)))
    (local.set $k (i32.add (local.get $p) (i32.const 12)))
    (if (i32.eq (local.get $op) (i32.const 0))
      (then (local.set $rc (call $kvget (local.get $k) (local.get $kl) (i32.const 1028)
                                        (local.get $vl)))))
    (if (i32.eq (local.get $op) (i32.const 1))
      (then (local.set $rc (call $kvput (local.get $k) (local.get $kl)
                    (i32.add (local.get $k) (local.get $kl)) (local.get $vl)))))
    (if (i32.eq (local.get $op) (i32.const 2))
      (then (local.set $rc (call $kvdel (local.get $k) (local.get $kl)))))
    (i32.store (i32.const 1024) (local.get $rc))
    (drop (call $setbody (i32.const 1024)
      (i32.add (i32.const 4) (select (local.get $rc) (i32.const 0)
        (i32.and (i32.eqz (local.get $op)) (i32.and (i32.gt_s (local.get $rc) (i32.const 0))
                                                    (i32.le_s (local.get $rc) (local.get $vl))))))))
    (i32.const 0))
  ;; request accessors: body = method \\n path \\n query \\n x-test header \\n headers-msgpack-len
  (func (export "req") (param $p i32) (param $n i32) (result i32)
    (local $at i32)
    (local.set $at (i32.const 0))
    (local.set $at (i32.add (local.get $at) (call $method (local.get $at) (i32.const 32))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (local.set $at (i32.add (local.get $at) (call $path (local.get $at) (i32.const 64))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (local.set $at (i32.add (local.get $at) (call $query (local.get $at) (i32.const 64))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (i64.store (i32.const 3000) (i64.const 0x747365742d78)) ;; "x-test"
    (local.set $at (i32.add (local.get $at)
      (call $header (i32.const 3000) (i32.const 6) (local.get $at) (i32.const 64))))
    (i32.store8 (local.get $at) (i32.const 10)) (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (i32.store (local.get $at) (call $headers (i32.const 2048) (i32.const 512)))
    (i32.store (i32.add (local.get $at) (i32.const 4))
      (call $header (i32.const 3000) (i32.const 5) (i32.const 2048) (i32.const 8)))
    (drop (call $setbody (i32.const 0) (i32.add (local.get $at) (i32.const 8)))) (i32.const 0))
  ;; request_body(out=0, cap=arg0, offset=arg1) via the *request* body; body = rc + bytes
  (func (export "body_chunk") (param $p i32) (param $n i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $body (i32.const 8) (call $arg (local.get $p) (i32.const 0))
                               (call $arg (local.get $p) (i32.const 1))))
    (i32.store (i32.const 0) (local.get $rc))
    (drop (call $setbody (i32.const 0) (i32.add (i32.const 8)
                                                (call $arg (local.get $p) (i32.const 0)))))
    (i32.const 0))
  ;; response setters: status from arg0, header "x-a: b", body = rc list
  (func (export "resp") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (call $status (call $arg (local.get $p) (i32.const 0))))
    (i32.store16 (i32.const 100) (i32.const 0x612d)) ;; "-a"
    (i32.store8 (i32.const 99) (i32.const 0x78))      ;; "x"
    (i32.store8 (i32.const 110) (i32.const 0x62))     ;; "b"
    (i32.store16 (i32.const 111) (i32.const 0x0a0d))  ;; "\\r\\n"
    (i32.store (i32.const 4) (call $sethdr (i32.const 99) (i32.const 3) (i32.const 110) (i32.const 1)))
    (i32.store (i32.const 8) (call $sethdr (i32.const 99) (i32.const 3) (i32.const 110) (i32.const 3)))
    (drop (call $setbody (i32.const 0) (i32.const 12))) (i32.const 0))
  ;; offload with the 64-byte request at input+0 copied to 512; result at 640
  (func (export "offload") (param $p i32) (param $n i32) (result i32)
    (memory.copy (i32.const 512) (local.get $p) (i32.const 64))
    (i32.store (i32.const 704) (call $offload (i32.const 512) (i32.const 640)))
    (drop (call $setbody (i32.const 640) (i32.const 68))) (i32.const 0))
  (func (export "status7") (param $p i32) (param $n i32) (result i32) (i32.const 7))
  (func (export "trap") (param $p i32) (param $n i32) (result i32) unreachable)
  (func (export "spin") (param $p i32) (param $n i32) (result i32)
    (loop $l (br $l)) (i32.const 0))
  ;; spin for arg0 ms measured by the monotonic import; body = start, end
  (func (export "busy") (param $p i32) (param $n i32) (result i32)
    (local $t0 i64) (local $end i64)
    (local.set $t0 (call $mono))
    (local.set $end (i64.add (local.get $t0)
      (i64.mul (i64.extend_i32_u (call $arg (local.get $p) (i32.const 0))) (i64.const 1000000))))
    (loop $l (br_if $l (i64.lt_s (call $mono) (local.get $end))))
    (i64.store (i32.const 0) (local.get $t0))
    (i64.store (i32.const 8) (call $mono))
    (drop (call $setbody (i32.const 0) (i32.const 16))) (i32.const 0))
;; rendezvous of two concurrent calls: input = my key (8 bytes), the other's
  ;; key (8 bytes); puts mine in kv, then spins until the other's is there or
  ;; 30 s have passed; body = 1 when they met, 0 when not
  (func (export "meet") (param $p i32) (param $n i32) (result i32)
    (local $end i64)
    (drop (call $kvput (local.get $p) (i32.const 8) (local.get $p) (i32.const 1)))
    (local.set $end (i64.add (call $mono) (i64.const 30000000000)))
    (block $done (loop $l
      (br_if $done (i32.ge_s (call $kvget (i32.add (local.get $p) (i32.const 8)) (i32.const 8)
                                          (i32.const 0) (i32.const 0)) (i32.const 0)))
      (br_if $l (i64.lt_s (call $mono) (local.get $end)))))
    (call $ret32 (i32.ge_s (call $kvget (i32.add (local.get $p) (i32.const 8)) (i32.const 8)
                                        (i32.const 0) (i32.const 0)) (i32.const 0))))
  (func (export "grow") (param $p i32) (param $n i32) (result i32)
    (call $ret32 (memory.grow (call $arg (local.get $p) (i32.const 0)))))
"""


def hostapi_tenant(tmp_path, name="hostapi", **manifest):
    """The host-API probe tenant: HOSTAPI_IMPORTS + HOSTAPI_HANDLERS."""
    return wat_tenant(HOSTAPI_IMPORTS + HOSTAPI_HANDLERS, name=name, tmp=tmp_path, **manifest)


def built_tenant(src: pathlib.Path, parent: pathlib.Path):
    """A copy of tenant directory ``src`` under ``parent``, built and loaded
    (a Tenant; the caller closes it)."""
    import shutil

    from edgehost.runtime.tenant import load
    from edgehost.toolchain import build

    d = parent / src.name
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("*.wasm", "target"))
    build.build(d)
    return load(d)


def run_cli(*args, input_bytes=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``edgehost ARGS...`` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "edgehost", *map(str, args)],
                          capture_output=True, input=input_bytes, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str, *,
                          code: int | None = None) -> str:
    """The failure is exactly one stderr line ``edgehost: error: ...`` containing
    ``needle``, with a non-zero exit (``code`` if given); returns that line."""
    err = proc.stderr.decode()
    assert proc.returncode != 0 if code is None else proc.returncode == code, (proc.returncode,
                                                                              err)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edgehost: error: ") and needle in lines[0], err
    return lines[0]


def ints(*vals):
    """Little-endian i32s: the probe handlers' arguments."""
    return struct.pack(f"<{len(vals)}i", *vals)


def i32(body, at=0):
    return struct.unpack_from("<i", body, at)[0]


def kvm_skip_reason() -> str | None:
    """None where KVM is usable, else why not (the one KVM gate's test)."""
    from edgehost import isolation

    ok, reason = isolation.kvm_status()
    return None if ok else f"KVM UNAVAILABLE -- NOT TESTED: {reason}"


def runnable_variants(family: str) -> list[str]:
    """The names of the variants of a kernel family this CPU runs: for the
    hypothesis tests, which parametrise over what runs instead of skipping."""
    from edgehost.kernels._common import variants

    return [name for name, ok in variants(family) if ok]


def native_variants(family: str) -> list:
    """Every native ISA variant of a kernel family as pytest params, skipped
    where this CPU lacks it. The wasm32-only simd128 variant is left out: the
    wasm tests (test_*_wasm.py, test_dispatch_wasm.py) run it."""
    from edgehost.kernels._common import variants

    return [pytest.param(name, marks=pytest.mark.skipif(not ok, reason="CPU lacks it"))
            for name, ok in variants(family) if name != "simd128"]



def wait_for(cond, timeout: float = 30.0, step: float = 0.005):
    """Polls ``cond`` every ``step`` s until it returns something truthy (then
    returns it) or ``timeout`` s pass; then returns one last evaluation. The
    timeout only turns a condition that never holds into a failure instead of
    a hang: it is not a speed bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


# -- raw guest calls (tests/kvm, tests/security/kvm, tests/reliability/kvm) ------------
# How long a test waits for an idle guest to park (Guest.wait_parked): the wait
# ends as soon as it parks (after its idle window, well under a second); the
# bound only turns a guest that never parks into a failure instead of a hang,
# on a loaded machine too -- not a speed.
PARK_WAIT_MS = 30_000


def request(kernel: int = 0, data: bytes = b"", data2: bytes = b"", out_cap: int = 0,
            args=()):
    """(req, res, keepalive) for a raw guest call: an ``eh_offload_req`` over
    ``data``/``data2`` with an output of ``out_cap`` bytes, and its result."""
    from edgehost.native import ffi

    req = ffi.new("eh_offload_req *")
    res = ffi.new("eh_offload_res *")
    keep = [ffi.from_buffer(data), ffi.from_buffer(data2), ffi.new("uint8_t[]", max(out_cap, 8))]
    req.kernel = kernel
    setattr(req, "in", int(ffi.cast("uintptr_t", keep[0])))
    req.in_len = len(data)
    req.in2 = int(ffi.cast("uintptr_t", keep[1]))
    req.in2_len = len(data2)
    req.out = int(ffi.cast("uintptr_t", keep[2]))
    req.out_cap = out_cap
    for i, a in enumerate(args):
        req.arg[i] = a
    return req, res, keep


# The three paths a call reaches a guest by (tests/kvm/test_containment.py and
# tests/security/kvm/test_hostile_guest.py run every case on each): the exit
# path entered by the caller (idle window 0), the exit path entered by the
# woken vCPU thread (EXIT_ON_VCPU_THREAD), and the exit-less warm path (the
# vCPU spins on the doorbell for the idle window).
EXIT_ON_VCPU_THREAD = -1
GUEST_PATHS = pytest.mark.parametrize("spin_us", [0, EXIT_ON_VCPU_THREAD, 100_000],
                                      ids=["exit-path", "exit-path-vcpu-thread", "warm-path"])


def boot_test_image(make_guest, spin_us: int, mem_mb: int, **kw):
    """A guest of the test image on the path ``spin_us`` names (see
    GUEST_PATHS), booted by a first call that must succeed: on the warm path
    its vCPU is spinning when this returns."""
    from edgehost.isolation import guest as vmm

    on_vcpu_thread = spin_us == EXIT_ON_VCPU_THREAD
    g = make_guest(image=vmm.TEST_IMAGE, idle_spin_us=0 if on_vcpu_thread else spin_us,
                   mem_mb=mem_mb, cold_on_caller=not on_vcpu_thread, **kw)
    assert_guest_serves(g)
    return g


def assert_guest_serves(g) -> None:
    """The guest answers a CRC32C call correctly (the check value of "123456789")."""
    req, res, _keep = request(1, b"123456789")
    g.offload(req, res)
    assert res.value == 0xE3069283


def call_test_op(g, op: int, *args):
    """Runs the test image's op ``op`` with ``args``; its eh_offload_res."""
    req, res, _keep = request(0, args=args)
    g.call_op(op, req, res)
    return res



# The hostile WAT tenants' memory: 2 pages of 64 KiB, never grown unless said.
WAT_MEM = 2 * 65536
# Where the host writes a call's input (their edgehost_alloc returns it).
WAT_INPUT = 4096


# -- resources ---------------------------------------------------------------------
def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def thread_comms(pid: int) -> dict[int, str]:
    """The threads of ``pid``: id -> name (``comm``); those that end while
    being read are left out. OSError when the process is gone."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[int(tid)] = pathlib.Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
    return out


def _user_threads(pid: int) -> int:
    """Threads of ``pid`` less the workers the kernel runs for each KVM VM
    (``kvm-nx-lpage-recovery``, started on a VM's first run and stopped with
    it): their count follows the VMs, which Resources counts on their own."""
    return sum(not name.startswith("kvm-") for name in thread_comms(pid).values())


def _fd_targets() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed between listdir and readlink
            pass
    return out


@dataclasses.dataclass(frozen=True)
class Resources:
    """One measurement of this process."""

    rss_kib: int
    fds: int
    threads: int
    kvm_vms: int     # open KVM VM descriptors (one per live guest)
    kvm_vcpus: int   # open vCPU descriptors

    @classmethod
    def now(cls) -> Resources:
        targets = _fd_targets()
        return cls(
            rss_kib=rss_kib(),
            fds=len(targets),
            threads=_user_threads(os.getpid()),
            kvm_vms=sum(t == "anon_inode:kvm-vm" for t in targets),
            kvm_vcpus=sum(t.startswith("anon_inode:kvm-vcpu") for t in targets),
        )

    def assert_flat(self, later: Resources, *, rss_slack_kib: int, fd_slack: int = 0,
                    thread_slack: int = 0) -> None:
        """``later`` holds no more than this plus the slack (RSS in KiB)."""
        problems = []
        if later.rss_kib - self.rss_kib > rss_slack_kib:
            problems.append(f"RSS grew {later.rss_kib - self.rss_kib} KiB "
                            f"(slack {rss_slack_kib})")
        if later.fds - self.fds > fd_slack:
            problems.append(f"fds {self.fds} -> {later.fds}")
        if later.threads - self.threads > thread_slack:
            problems.append(f"threads {self.threads} -> {later.threads}")
        if later.kvm_vms > self.kvm_vms or later.kvm_vcpus > self.kvm_vcpus:
            problems.append(f"KVM VMs {self.kvm_vms} -> {later.kvm_vms}, "
                            f"vCPUs {self.kvm_vcpus} -> {later.kvm_vcpus}")
        assert not problems, "; ".join(problems)


# -- WAT generated from the ABI ------------------------------------------------------
_WT = {"i": "i32", "I": "i64"}


def import_decls() -> str:
    """``(import "edgehost" NAME (func $NAME ...))`` for every ABI import."""
    out = []
    for imp in abi.IMPORTS:
        params = " ".join(_WT[c] for c in imp.params)
        results = " ".join(_WT[c] for c in imp.results)
        sig = (f" (param {params})" if params else "") + (f" (result {results})"
                                                          if results else "")
        out.append(f'  (import "{abi.IMPORT_MODULE}" "{imp.name}" (func ${imp.name}{sig}))')
    return "\n".join(out)


def caller_module(extra: str = "") -> str:
    """A module body (imports + handlers, no ABI prologue) with one handler
    ``call_NAME`` per import: it calls the import with its i32 arguments read
    from the input (little-endian, 4 bytes each) and answers with the result
    (4 or 8 bytes; nothing for a void import)."""
    funcs = ["""
  (func $arg (param $p i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))"""]
    for imp in abi.IMPORTS:
        args = " ".join(f"(call $arg (local.get $p) (i32.const {i}))"
                        for i in range(len(imp.params)))
        call = f"(call ${imp.name} {args})"
        if imp.results == "i":
            body = (f"(i32.store (i32.const 64) {call})\n"
                    "    (drop (call $response_set_body (i32.const 64) (i32.const 4)))")
        elif imp.results == "I":
            body = (f"(i64.store (i32.const 64) {call})\n"
                    "    (drop (call $response_set_body (i32.const 64) (i32.const 8)))")
        else:
            body = call
        funcs.append(f"""
  (func (export "call_{imp.name}") (param $p i32) (param $n i32) (result i32)
    {body}
    (i32.const 0))""")
    return import_decls() + "".join(funcs) + extra


# -- concurrency -----------------------------------------------------------------------
def run_threads(n: int, target, *args) -> list[BaseException]:
    """Run ``target(i, *args)`` on ``n`` threads; return what they raised."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def wrap(i):
        try:
            target(i, *args)
        except BaseException as exc:  # collected and reported by the caller
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


# -- guest images --------------------------------------------------------------------
def elf_symbols(path: str | os.PathLike) -> dict[str, int]:
    """Global symbols of a static ELF64 image (name -> address), read from
    its .symtab (the test guest image keeps one: nothing strips it)."""
    data = pathlib.Path(path).read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    out = {}
    for _name, sh_type, _f, _a, off, size, link, _i, _al, entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        stroff = sections[link][4]
        for at in range(off, off + size, entsize):
            st_name, st_info, _o, _shndx, value, _sz = struct.unpack_from("<IBBHQQ", data, at)
            if st_info >> 4 == 1 and st_name:  # STB_GLOBAL
                end = data.index(b"\0", stroff + st_name)
                out[data[stroff + st_name:end].decode()] = value
    return out


def elf_segments(path: str | os.PathLike) -> list[tuple[int, int, int]]:
    """PT_LOAD segments of an ELF64 image as (vaddr, memsz, flags: PF_R=4 W=2 X=1)."""
    data = pathlib.Path(path).read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(phnum):
        p_type, flags, _off, vaddr, _pa, _fsz, memsz, _al = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            out.append((vaddr, memsz, flags))
    return out


def elf_patch(src: str | os.PathLike, dest: str | os.PathLike,
              patches: dict[str, bytes]) -> pathlib.Path:
    """A copy of the static ELF64 image ``src`` at ``dest`` whose code at
    each global symbol of ``patches`` starts with the bytes given (for
    example ``{"eh_stream_run": UD2}``): a guest image that misbehaves at one
    precise point. Each symbol must lie in a loaded segment's file bytes."""
    data = bytearray(pathlib.Path(src).read_bytes())
    symbols = elf_symbols(src)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
    for name, code in patches.items():
        va = symbols[name]
        at = [off + va - vaddr for p_type, _f, off, vaddr, _pa, filesz, _m, _a in segs
              if p_type == 1 and vaddr <= va and va + len(code) <= vaddr + filesz]
        if not at:
            raise ValueError(f"{name} ({va:#x}) is not in a loaded segment of {src}")
        data[at[0]:at[0] + len(code)] = code
    dest = pathlib.Path(dest)
    dest.write_bytes(bytes(data))
    return dest


UD2 = b"\x0f\x0b"        # invalid opcode: a CPU exception in the guest
SPIN = b"\xf3\x90\xeb\xfc"  # pause ; jmp back to the pause: spins there forever


# -- run records for docs/reliability.md (tests/reliability/report.py) ---------------
def record(kind: str, **data) -> None:
    """Append one JSON line to $EDGEHOST_REPORT_DIR/events.jsonl when the
    report generator runs the suite (a no-op otherwise): what a test tried
    (inputs, executions, faults injected) and what came of it."""
    out = os.environ.get("EDGEHOST_REPORT_DIR")
    if not out:
        return
    line = json.dumps({"kind": kind, **data}, sort_keys=True)
    with _record_lock, open(pathlib.Path(out) / "events.jsonl", "a") as fh:
        fh.write(line + "\n")


_record_lock = threading.Lock()


# -- libFuzzer targets -----------------------------------------------------------------
FUZZ_SECONDS = int(os.environ.get("EDGEHOST_FUZZ_SECONDS", "3"))
NATIVE = REPO / "native_modules"
_ISA_PRAGMA = re.compile(r'#pragma GCC target\("([^"]+)"\)')


def _isa_flags(src: pathlib.Path) -> list[str]:
    """clang ignores ``#pragma GCC target``: for a per-ISA kernel file that has
    no clang equivalent, give the same ISA on the command line (the dispatcher
    only calls its functions on a CPU that has it)."""
    text = src.read_text(errors="replace")
    if "#pragma clang attribute" in text:
        return []
    return [f"-m{isa}" for m in _ISA_PRAGMA.finditer(text) for isa in m.group(1).split(",")]


def build_fuzzer(name: str, sources: list[pathlib.Path], *, defines: tuple[str, ...] = (),
                 fuzzer: bool = True) -> pathlib.Path:
    """Compile a libFuzzer target (or, with ``fuzzer=False``, a plain replay
    program) with AddressSanitizer and UBSan, cached under ~/.cache/edgehost
    by a hash of every source and header it can include. Skips (loudly) where
    clang or its libFuzzer runtime is missing."""
    import pytest

    clang = shutil.which("clang")
    if not clang:
        pytest.skip("CLANG MISSING -- fuzz target NOT RUN (apt-get install clang)")
    san = "fuzzer,address,undefined" if fuzzer else "address,undefined"
    flags = ["-O1", "-g", f"-fsanitize={san}", "-fno-sanitize-recover=undefined",
             "-fno-omit-frame-pointer", "-Wall", "-Wno-unused-parameter",
             "-Wno-gnu-variable-sized-type-not-at-end", "-Wno-unknown-pragmas",
             f"-I{NATIVE}", f"-I{NATIVE / 'include'}", f"-I{REPO / 'sdk' / 'c'}",
             *(f"-D{d}" for d in defines)]
    headers = sorted(NATIVE.rglob("*.h")) + sorted((REPO / "sdk" / "c").glob("*.h"))
    h = hashlib.sha256(repr((flags, subprocess.run([clang, "--version"], capture_output=True,
                                                    text=True).stdout)).encode())
    for p in list(sources) + headers:
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes())
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    exe = cache / "edgehost" / "fuzz" / f"{name}-{h.hexdigest()[:16]}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=exe.parent) as tmp:
        def compile_one(i_src):
            i, src = i_src
            obj = pathlib.Path(tmp) / f"{i:03d}_{src.stem}.o"
            proc = subprocess.run([clang, *flags, *_isa_flags(src), "-c", str(src), "-o",
                                   str(obj)], capture_output=True, text=True)
            return obj, proc

        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            results = list(pool.map(compile_one, enumerate(sources)))
        for _obj, proc in results:
            assert proc.returncode == 0, proc.stderr[-3000:]
        out = pathlib.Path(tmp) / "exe"
        proc = subprocess.run([clang, f"-fsanitize={san}", *(str(o) for o, _ in results), "-o",
                               str(out)], capture_output=True, text=True)
        if proc.returncode != 0 and "fuzzer" in proc.stderr and "cannot find" in proc.stderr:
            pytest.skip("LIBFUZZER RUNTIME MISSING -- fuzz target NOT RUN "
                        "(apt-get install libclang-rt-14-dev)")
        assert proc.returncode == 0, proc.stderr[-3000:]
        out.replace(exe)
    return exe


_STAT = re.compile(r"stat::(\w+):\s*(\d+)")
_COV = re.compile(r"cov: (\d+) ft: (\d+)")


def run_fuzzer(exe: pathlib.Path, target: str, work: pathlib.Path, seeds: dict[str, bytes],
               regressions: pathlib.Path, *, seconds: int = FUZZ_SECONDS,
               max_len: int = 4096, extra: tuple[str, ...] = ()) -> dict:
    """Replay every regression input of ``target`` (a folder in the repo),
    then fuzz for ``seconds`` from those, the seeds and the corpus earlier
    runs on this machine kept (~/.cache/edgehost/fuzz-corpus/TARGET). Fails
    on any crash, leak, sanitizer report or failed check, naming the input
    to add to ``regressions``. Returns libFuzzer's final stats."""
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    replay = sorted(p for p in regressions.glob("*") if p.is_file()) if regressions.is_dir() \
        else []
    if replay:
        proc = subprocess.run([str(exe), *map(str, replay)], capture_output=True, text=True,
                              env=env, timeout=600)
        assert proc.returncode == 0, f"a regression input fails again:\n{proc.stderr[-3000:]}"
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    corpus = cache / "edgehost" / "fuzz-corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    seed_dir = work / "seeds"
    seed_dir.mkdir(exist_ok=True)
    for name, data in seeds.items():
        (seed_dir / name).write_bytes(data)
    dirs = [corpus, seed_dir] + ([regressions] if replay else [])
    proc = subprocess.run(
        [str(exe), f"-max_total_time={seconds}", f"-max_len={max_len}", "-print_final_stats=1",
         "-timeout=10", "-rss_limit_mb=4096", f"-artifact_prefix={artifacts}/", *extra,
         *map(str, dirs)], capture_output=True, text=True, env=env, timeout=seconds + 600)
    crashes = sorted(p.name for p in artifacts.iterdir())
    stats = {k: int(v) for k, v in _STAT.findall(proc.stderr)}
    cov = _COV.findall(proc.stderr)
    result = {"target": target, "seconds": seconds, "regressions": len(replay),
              "execs": stats.get("number_of_executed_units", 0),
              "coverage": int(cov[-1][0]) if cov else 0,
              "features": int(cov[-1][1]) if cov else 0,
              "corpus": len(list(corpus.iterdir())), "crashes": crashes}
    record("fuzz", **result)
    assert proc.returncode == 0 and not crashes, (
        f"{target}: crash inputs in {artifacts} -- add each to {regressions} as a regression "
        f"input once fixed: {crashes}\n{proc.stderr[-4000:]}")
    return result


# -- the msgpack reference for the SDK decoders' differential tests ---------------------
class _Pairs(list):
    """A decoded map, as its pairs in order (duplicate keys kept)."""


class _Unsupported(Exception):
    pass


def msgpack_reference(data: bytes, *, utf8_strict: bool, int64_only: bool,
                      max_depth: int = 1000) -> str:
    """What an SDK decoder walking ONE value of ``data`` and re-encoding it
    canonically must answer, according to the msgpack package (the trusted
    peer): ``"ok CONSUMED HEX"`` or ``"error"``. Ext types are errors (the
    SDKs' generic walkers refuse them); so are integers above int64 where the
    SDK reads int64 only (C), and strings that are not UTF-8 where the SDK
    checks (Rust)."""
    import msgpack

    def ext(code, payload):
        raise _Unsupported("ext")

    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, object_pairs_hook=_Pairs,
                                ext_hook=ext, timestamp=0,
                                unicode_errors="strict" if utf8_strict else "surrogateescape",
                                max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    try:
        obj = unpacker.unpack()
    except (_Unsupported, msgpack.OutOfData, ValueError, TypeError, msgpack.StackError,
            UnicodeDecodeError, msgpack.FormatError):
        return "error"
    consumed = unpacker.tell()
    packer = msgpack.Packer(use_bin_type=True, unicode_errors="surrogateescape")
    out = bytearray()

    def enc(v, depth):
        if depth > max_depth:
            raise _Unsupported("depth")
        if isinstance(v, _Pairs):
            out.extend(packer.pack_map_header(len(v)))
            for k, x in v:
                enc(k, depth + 1)
                enc(x, depth + 1)
        elif isinstance(v, list):
            out.extend(packer.pack_array_header(len(v)))
            for x in v:
                enc(x, depth + 1)
        elif isinstance(v, float):
            out.extend(b"\xcb" + struct.pack(">d", v))
        elif isinstance(v, bool) or v is None or isinstance(v, (str, bytes)):
            out.extend(packer.pack(v))
        elif isinstance(v, int):
            if int64_only and v > (1 << 63) - 1:
                raise _Unsupported("uint64")
            out.extend(packer.pack(v))
        else:
            raise _Unsupported(type(v).__name__)

    try:
        enc(obj, 0)
    except _Unsupported:
        return "error"
    return f"ok {consumed} {out.hex()}"


# -- faults ----------------------------------------------------------------------------
@contextlib.contextmanager
def small_filesystem(path: pathlib.Path, size: str):
    """A tmpfs of ``size`` (e.g. "256k") mounted at ``path`` for the block: a
    disk that fills up. Skips LOUDLY where mounting is not permitted."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"CANNOT MOUNT A TMPFS -- full-disk fault NOT TESTED: "
                    f"{proc.stderr.strip() or proc.returncode} (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_filesystem(path: pathlib.Path) -> pathlib.Path:
    """Write a file in ``path`` until the filesystem is full; returns it."""
    filler = path / ".filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 16, 1 << 12, 1):
            chunk = b"\0" * size
            try:
                while True:
                    fh.write(chunk)
            except OSError:
                pass
    return filler


def thread_names(pids: list[int]) -> collections.Counter:
    """How many threads of each name (``comm``) the processes ``pids`` hold, to
    say which kind of thread a resource test saw grow."""
    names: collections.Counter = collections.Counter()
    for pid in pids:
        with contextlib.suppress(OSError):   # a process that is gone holds none
            names.update(thread_comms(pid).values())
    return names


def process_resources(pids: list[int]) -> Resources:
    """:class:`Resources` summed over other processes (a server and its workers)."""
    rss = fds = threads = vms = vcpus = 0
    for pid in pids:
        try:
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
            rss += int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS:"))
                       .split()[1])
            threads += _user_threads(pid)
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                fds += 1
                vms += target == "anon_inode:kvm-vm"
                vcpus += target.startswith("anon_inode:kvm-vcpu")
        except (OSError, StopIteration):
            continue  # the process is gone: it counts for nothing
    return Resources(rss_kib=rss, fds=fds, threads=threads, kvm_vms=vms, kvm_vcpus=vcpus)


def settled_resources(server, *, interval_s: float = 1.0, tries: int = 30) -> Resources:
    """A server's resources (``server``: a :class:`Server`) once a reload's
    after-work is done: each version owns its own guest, and after a reload a
    worker builds the version's snapshot form off the request path and
    retires the configured form, so for a moment a worker holds one guest
    more or less -- or one booting, its VM and vCPU open but its threads not
    yet started. Waits (up to ``tries`` readings, a wait and not a bound) for
    two equal readings ``interval_s`` apart."""
    last = process_resources([server.proc.pid, *server.worker_pids()])
    for _ in range(tries):
        time.sleep(interval_s)
        now = process_resources([server.proc.pid, *server.worker_pids()])
        if (now.threads, now.fds, now.kvm_vms, now.kvm_vcpus) == \
                (last.threads, last.fds, last.kvm_vms, last.kvm_vcpus):
            return now
        last = now
    return last


# -- kernel calls past a deadline (tests/integration + tests/kvm test_kernel_deadlines) --
# A tenant with two handlers whose single kernel call outlasts any small
# deadline: "crc" (one CRC32C of 80 MiB of memory, then straight back: no wasm
# code after it could notice the deadline instead) and "stream" (STREAM copy
# of 27 MiB x 1000 repetitions, issue 16's case). Needs memory_mb >= 100.
DEADLINE_WAT = """
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (import "edgehost" "offload" (func $offload (param i32 i32) (result i32)))
  (memory (export "memory") 1600)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  ;; one CRC32C of 80 MiB of memory (several ms), then straight back: no
  ;; wasm code after it could notice the deadline instead
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (call $crc (i32.const 16777216) (i32.const 83886080) (i32.const 0)))
  ;; STREAM copy of 27 MiB x 1000 repetitions (issue 16's case)
  (func (export "stream") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 256) (i32.const 15))
    (i64.store (i32.const 264) (i64.const 0))
    (i64.store (i32.const 272) (i64.const 1000))
    (i32.store (i32.const 296) (i32.const 16777216))
    (i32.store (i32.const 300) (i32.const 28311552))
    (i32.store (i32.const 312) (i32.const 50331648))
    (i32.store (i32.const 316) (i32.const 28311552))
    (call $offload (i32.const 256) (i32.const 512)))
"""



def deadline_case(isolation: str, export: str, deadline_ms: int) -> None:
    """Run DEADLINE_WAT's ``export`` under ``isolation`` with ``deadline_ms``:
    it must trap with kind "deadline", twice (each request its own deadline)."""
    import pytest

    from edgehost.errors import TenantTrap

    t = wat_tenant(DEADLINE_WAT, name=f"deadline-{isolation}", isolation=isolation,
                   kernels=["stream"], limits={"deadline_ms": deadline_ms, "memory_mb": 100})
    try:
        for _ in range(2):
            with pytest.raises(TenantTrap) as info:
                t.call(export, b"")
            assert info.value.kind == "deadline", info.value
            assert "deadline" in info.value.message
    finally:
        t.close()


# -- edgehost serve over HTTP (tests/serving, tests/kvm, tests/reliability, tests/state,
#    tests/reload): build the test tenants, run ``edgehost serve`` as a real process on a
#    free port, talk HTTP to it, and a load loop that records every response --------------
SERVE_TENANTS = REPO / "tests" / "serving" / "tenants"
START_TIMEOUT_S = 120


def _bench_tenants() -> pathlib.Path:
    from edgehost import bench

    return pathlib.Path(bench.__file__).resolve().parent / "tenants"


BENCH_TENANTS = _bench_tenants()  # the hostile "abuse" tenant ships with the benchmarks


def build_tenants(dest: pathlib.Path, names: list[str], examples: list[str] = ()) -> pathlib.Path:
    """Copies of the named test tenants (tests/serving/tenants, else the bench
    tenants such as "abuse") and bundled examples, built, in ``dest``."""
    from edgehost.toolchain import build

    for name in names:
        src = (SERVE_TENANTS / name if (SERVE_TENANTS / name).is_dir()
               else BENCH_TENANTS / name)
        shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("*.wasm"))
        build.build(dest / name)
    for name in examples:
        shutil.copytree(REPO / "examples" / name, dest / name,
                        ignore=shutil.ignore_patterns("*.wasm", "target"))
        build.build(dest / name)
    return dest


class Server:
    """``edgehost serve`` in a subprocess; ``with Server(dirs, ...) as s:``."""

    def __init__(self, *dirs, workers: int = 1, threads: int = 4, extra: list[str] = (),
                 env: dict | None = None):
        self.args = [sys.executable, "-m", "edgehost", "serve", *map(str, dirs),
                     "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                     "--workers", str(workers), "--threads", str(threads), *extra]
        self.env = {**os.environ, **env} if env else None
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = None
        self.port = self.admin_port = 0

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, start_new_session=True, env=self.env)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("edgehost: serving"):
                break
        if not line.startswith("edgehost: serving"):
            self.stop()
            raise RuntimeError(f"server did not start: {self.log()}")
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])
        self.admin_port = int(line.split("admin http://127.0.0.1:")[1].split()[0])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def log_lines(self) -> list[dict]:
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def wait_snapshots(self, timeout: float = 60.0) -> None:
        """Wait until every version's snapshot form is live or declined: it
        replaces the configured form a moment after the start, as a new
        served version whose inline streak starts again (dispatch.c,
        eh_disp_inherit)."""
        def settled():
            versions = json.loads(get(self.admin_port, "/status")[2])["versions"]
            return all((v.get("snapshot") or {}).get("state") in ("live", "declined")
                       for v in versions.values())

        assert wait_for(settled, timeout=timeout), "snapshots still pending"

    def worker_pids(self) -> list[int]:
        st = json.loads(get(self.admin_port, "/status")[2])
        return [int(p) for p in st["workers"].values()]

    def metrics(self) -> str:
        return get(self.admin_port, "/metrics")[2].decode()


def get(port: int, path: str, *, method: str = "GET", body: bytes | None = None,
        headers: dict | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Load:
    """Threads sending ``path`` over kept-alive connections until stopped,
    recording each outcome (status or exception name) and latency."""

    def __init__(self, port: int, path: str, *, clients: int = 4, body: bytes | None = None):
        self.port, self.path, self.body = port, path, body
        self.results: list[tuple[object, float]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST" if self.body else "GET", self.path, body=self.body)
                r = conn.getresponse()
                r.read()
                outcome = r.status
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                conn = None
            self.results.append((outcome, time.perf_counter() - t0))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def failures(self) -> list:
        return [o for o, _ in self.results if o != 200]

    def p99_ms(self) -> float:
        lat = sorted(t for _, t in self.results)
        return lat[int(len(lat) * 0.99)] * 1e3 if lat else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(port: int, path: str, stop: threading.Event, *, body: bytes | None = None,
           clients: int = 2) -> list[threading.Thread]:
    """Threads requesting ``path`` in a loop (outcomes ignored) until ``stop``."""
    def run():
        while not stop.is_set():
            try:
                get(port, path, method="POST" if body else "GET", body=body, timeout=10)
            except OSError:
                pass

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads
