"""The tenant of ``edgehost bench reload`` and of the hot-reload tests: a
module built from WAT text (no toolchain needed) whose versions are told
apart by their answers, with an optional expensive ``edgehost_configure``."""

from __future__ import annotations

import wasmtime

# Answers "<version>|<greeting as msgpack>" from state edgehost_configure set
# up (a memory copy of the config value and a mutable global with its
# length), so a version that skipped its configure -- or a snapshot that lost
# memory or globals -- answers differently. CONFIGURE is spliced into the
# configure body: a trap, a loop, a refusal, or expensive work.
_WAT = """
(module
  (import "edgehost" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "edgehost" "response_set_body" (func $set_body (param i32 i32) (result i32)))
  (memory (export "memory") {pages})
  (global $glen (mut i32) (i32.const 0))
  (global $configured (mut i32) (i32.const 0))
  (global $checksum (mut i64) (i64.const 0))
  (data (i32.const 1000) "greeting")
  (data (i32.const 1024) "{version}")
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "edgehost_configure") (result i32)
    (local $i i32) (local $h i32)
    {configure}
    (global.set $glen (call $config_get (i32.const 1000) (i32.const 8) (i32.const 8192)
                                        (i32.const 256)))
    (global.set $configured (i32.const 1))
    (i32.const 0))
  (func (export "hello") (param $p i32) (param $n i32) (result i32)
    (local $len i32)
    (if (i32.eqz (global.get $configured)) (then (return (i32.const 9))))
    (memory.copy (i32.const 16384) (i32.const 1024) (i32.const {vlen}))
    (i32.store8 (i32.const {bar}) (i32.const 124))
    (local.set $len (select (global.get $glen) (i32.const 0)
                            (i32.gt_s (global.get $glen) (i32.const 0))))
    (memory.copy (i32.const {after}) (i32.const 8192) (local.get $len))
    (drop (call $set_body (i32.const 16384) (i32.add (i32.const {head}) (local.get $len))))
    (i32.const 0))
  (func (export "table") (param $p i32) (param $n i32) (result i32)
    (i64.store (i32.const 16384) (global.get $checksum))
    (drop (call $set_body (i32.const 16384) (i32.const 8)))
    (i32.const 0))
)
"""

# Expensive configure: fill a 1 MiB table at 131072 with a hash chain, ROUNDS
# times over, and keep a checksum (the bench's ">= 10 ms" configure).
EXPENSIVE = """
    (local.set $h (i32.const 2166136261))
    (block $done (loop $round
      (br_if $done (i32.ge_u (local.get $i) (i32.const {rounds})))
      (local.set $h (i32.mul (i32.xor (local.get $h) (local.get $i)) (i32.const 16777619)))
      (i32.store (i32.add (i32.const 131072)
                          (i32.shl (i32.and (local.get $i) (i32.const 262143)) (i32.const 2)))
                 (local.get $h))
      (global.set $checksum (i64.add (global.get $checksum) (i64.extend_i32_u (local.get $h))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $round)))
"""
TRAP = "(unreachable)"
LOOP = "(loop $forever (br $forever))"
REFUSE = "(return (i32.const 7))"


def module(version: str, *, configure: str = "", rounds: int = 0) -> bytes:
    """A tenant module answering ``version|<greeting>`` (see above)."""
    if rounds:
        configure = EXPENSIVE.format(rounds=rounds) + configure
    vlen = len(version.encode())
    text = _WAT.format(version=version, vlen=vlen, bar=16384 + vlen, after=16385 + vlen,
                       head=vlen + 1, configure=configure, pages=20 if rounds else 2)
    return bytes(wasmtime.wat2wasm(text))


def manifest(name: str = "gen", *, greeting: str = "g1", checks: str = "",
             extra: str = "", isolation: str = "inproc") -> str:
    return (f'name = "{name}"\nisolation = "{isolation}"\n{extra}\n'
            f'[routes]\n"/hello" = "hello"\n"/table" = "table"\n\n'
            f'[config]\ngreeting = "{greeting}"\n{checks}')


def answer(version: str, greeting: str = "g1") -> bytes:
    """What :func:`module` ``version`` answers under ``greeting``."""
    g = greeting.encode()
    return version.encode() + b"|" + bytes([0xA0 | len(g)]) + g
