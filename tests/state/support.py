"""Shared helpers for the kv store tests: the backends every test runs
against, a WAT tenant that drives the kv imports, and worker processes."""

from __future__ import annotations

import os
import pathlib
import struct
import subprocess
import sys

import wasmtime

from edgehost.runtime.tenant import Tenant
from edgehost.wasm_config import abi
from edgehost.wasm_config import manifest as manifest_mod

REPO = pathlib.Path(__file__).resolve().parents[2]
ERR = abi.ERRORS
OP_GET, OP_PUT, OP_DEL = 0, 1, 2

# Handler "kv": input = op(i32) klen(i32) vlen(i32) key value; the body is
# the import's result (i32), then for a get the bytes it copied out.
# Handler "fill": input = klen(i32) vlen(i32) key; puts key, key+1, ... (the
# last 4 key bytes count up) until the store refuses; body = puts done (i32)
# and the refusal (i32).
KV_WAT = """
(module
  (import "edgehost" "kv_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "kv_delete" (func $del (param i32 i32) (result i32)))
  (import "edgehost" "response_set_body" (func $body (param i32 i32) (result i32)))
  (memory (export "memory") 40)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "kv") (param $p i32) (param $n i32) (result i32)
    (local $op i32) (local $kl i32) (local $vl i32) (local $k i32) (local $rc i32) (local $blen i32)
    (local.set $op (i32.load (local.get $p)))
    (local.set $kl (i32.load offset=4 (local.get $p)))
    (local.set $vl (i32.load offset=8 (local.get $p)))
    (local.set $k (i32.add (local.get $p) (i32.const 12)))
    (if (i32.eq (local.get $op) (i32.const 0))
      (then (local.set $rc (call $get (local.get $k) (local.get $kl) (i32.const 1028)
                                      (local.get $vl)))))
    (if (i32.eq (local.get $op) (i32.const 1))
      (then (local.set $rc (call $put (local.get $k) (local.get $kl)
                                      (i32.add (local.get $k) (local.get $kl)) (local.get $vl)))))
    (if (i32.eq (local.get $op) (i32.const 2))
      (then (local.set $rc (call $del (local.get $k) (local.get $kl)))))
    (i32.store (i32.const 1024) (local.get $rc))
    (local.set $blen (i32.const 4))
    ;; a get that fit: the copied bytes follow the result
    (if (i32.and (i32.eqz (local.get $op))
                 (i32.and (i32.ge_s (local.get $rc) (i32.const 0))
                          (i32.le_s (local.get $rc) (local.get $vl))))
      (then (local.set $blen (i32.add (i32.const 4) (local.get $rc)))))
    (drop (call $body (i32.const 1024) (local.get $blen)))
    (i32.const 0))
  (func (export "fill") (param $p i32) (param $n i32) (result i32)
    (local $kl i32) (local $vl i32) (local $k i32) (local $rc i32) (local $i i32) (local $tail i32)
    (local.set $kl (i32.load (local.get $p)))
    (local.set $vl (i32.load offset=4 (local.get $p)))
    (local.set $k (i32.add (local.get $p) (i32.const 8)))
    (local.set $tail (i32.sub (i32.add (local.get $k) (local.get $kl)) (i32.const 4)))
    (block $done (loop $l
      (local.set $rc (call $put (local.get $k) (local.get $kl) (i32.const 4096) (local.get $vl)))
      (br_if $done (i32.ne (local.get $rc) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (i32.store (local.get $tail) (i32.add (i32.load (local.get $tail)) (i32.const 1)))
      (br $l)))
    (i32.store (i32.const 1024) (local.get $i))
    (i32.store (i32.const 1028) (local.get $rc))
    (drop (call $body (i32.const 1024) (i32.const 8)))
    (i32.const 0))
)
"""
KV_WASM = bytes(wasmtime.wat2wasm(KV_WAT))


def kv_tenant(store, name: str = "kv-test", wasm: bytes = KV_WASM, **manifest) -> Tenant:
    """A tenant running KV_WAT (or ``wasm``) on ``store``; manifest fields as keywords."""
    data = {"name": name, "isolation": "inproc", **manifest}
    man = manifest_mod.from_dict(data, pathlib.Path("/nonexistent-kv-test") / "edgehost.toml")
    return Tenant(man, wasm=wasm, store=store)


def kv(t: Tenant, op: int, key: bytes, val: bytes = b"", cap: int | None = None):
    """(import result, bytes copied out) of one kv import through the tenant."""
    vlen = len(val) if op == OP_PUT else (cap if cap is not None else 65536)
    body = t.call("kv", struct.pack("<iii", op, len(key), vlen) + key + val).body
    rc = struct.unpack_from("<i", body)[0]
    copied = body[4:] if op == OP_GET and 0 <= rc <= vlen else b""
    return rc, copied


def get(t: Tenant, key: bytes, cap: int = 65536):
    """The value (bytes), or the import's negative result."""
    rc, data = kv(t, OP_GET, key, cap=cap)
    return data if rc >= 0 else rc


def put(t: Tenant, key: bytes, val: bytes) -> int:
    return kv(t, OP_PUT, key, val)[0]


def delete(t: Tenant, key: bytes) -> int:
    return kv(t, OP_DEL, key)[0]


def fill(t: Tenant, key: bytes, vlen: int) -> tuple[int, int]:
    """Put key, key+1, ... of ``vlen`` bytes each until refused: (puts, refusal)."""
    body = t.call("fill", struct.pack("<ii", len(key), vlen) + key).body
    return struct.unpack("<ii", body)


class Worker:
    """A separate process (``python -m tests.state.worker``) with its own store
    handle and tenant, driven line by line (see worker.py)."""

    def __init__(self, spec: str, data: str | None, name: str, **limits):
        args = [sys.executable, "-m", "tests.state.worker", "--kv", spec, "--name", name]
        if data:
            args += ["--data", data]
        for k, v in limits.items():
            args += ["--limit", f"{k}={v}"]
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, cwd=REPO,
                                     env=env)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"worker did not start: {line!r} {self.proc.stderr.read()}")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def ask(self, line: str) -> str:
        self.send(line)
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError(f"worker died: {self.proc.stderr.read()}")
        return out.strip()

    def readline(self) -> str:
        return self.proc.stdout.readline().strip()

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=30)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill9()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()
