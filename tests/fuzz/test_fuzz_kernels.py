"""Coverage-guided fuzzing (libFuzzer, AddressSanitizer + UBSan) of every
kernel family, each checked differentially across the ISA variants this CPU
runs:

* ``csv`` (csv_fuzz.c): every variant's entries, counts and errors equal the
  scalar state machine's, and an index satisfies csv.h's layout; then, on
  every corpus input, our rows against Python's csv module (peers.py);
* ``json`` (json_fuzz.c): every variant's status, offset, output and tape
  equal the scalar one's; a minified document is its own minification;
  then, on every corpus input, json-validate's verdict against simdjson's
  (pysimdjson; peers.py), at the default depth and at the target's small one;
* ``crc32c`` (crc32c_fuzz.c): every variant equals the byte table, in one
  call and continued across a split;
* ``vector`` (vector_fuzz.c): every variant, float32 and float64, within
  vector.h's bounds of a long double reference, on any bit patterns (NaN,
  inf, subnormal, huge), top-k complete and NaN last, statuses equal.

Inputs and outputs lie in exact-size allocations at odd offsets, so ASan
flags any access past a buffer and UBSan any misaligned one. Each target
first replays its regression inputs (tests/fuzz/corpus/TARGET: every crash
found becomes one), then runs EDGEHOST_FUZZ_SECONDS (default 3). The
trusted peers judge in Python after the run (a C++ peer cannot be linked
into these C builds): every input of the corpus, that is each input libFuzzer
kept for new coverage plus the seeds and regressions, not every input it
executed; a disagreement fails, naming the input to keep as a regression in
tests/fuzz/corpus/TARGET (replayed by libFuzzer and judged by the peer on
every run). Long runs,
all kernel targets:

    EDGEHOST_FUZZ_SECONDS=600 python -m pytest tests/fuzz/test_fuzz_kernels.py

The corpus grows across runs on one machine (~/.cache/edgehost/fuzz-corpus).
"""

from __future__ import annotations

import pathlib
import struct

import pytest

from tests.fuzz import peers
from tests.support import NATIVE, build_fuzzer, record, run_fuzzer

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
KERNELS = NATIVE / "kernels"


def _seeds_csv() -> dict[str, bytes]:
    docs = [b'a,b\r\n"c""d",e\n', b'"x\ny",,\n\nz', b'a"b,"c"d', b"'q;r';s\n",
            b'"ab"c,d\r\n"e', b"," * 70 + b'"\n"', b"x,y\n" * 40]
    return {f"csv{i}-{ctl}": bytes([ctl]) + doc for i, doc in enumerate(docs)
            for ctl in (0, 1, 2, 3, 4, 8, 16, 32, 0x91, 0x40, 0xC0)}


def _seeds_json() -> dict[str, bytes]:
    docs = [b'{"a":[1,2,{"b":null}],"c":"x\\u00e9y"}', b"[1,2,]", b'"\\ud83d\\ude00"',
            b"[1e5,-0.5,01]", '{"é":[true,false]}'.encode(), b'"' + b"a" * 70 + b'\\\\"',
            b'{"a" : [ "x\\"", 1.5e-3 ] }', b"[[[[[[]]]]]]", b'"\xe2\x82"',
            b'{"a":[1,{"b":2.5e-3}],"c~":3}\0\0/a/1/b', b'{"\\u00e9":[0]}\0\0/\xc3\xa9/0',
            # the peer's documented differences (peers.peer_json_valid)
            b"\xef\xbb\xbf[1]", b"[1e400,-123456789012345678901234567890]", b'["\\ud800"]',
            b"[" * 1024 + b"]" * 1024, b"[" * 1025 + b"]" * 1025]
    return {f"json{i}-{ctl}": bytes([ctl]) + doc for i, doc in enumerate(docs)
            for ctl in (0, 1, 2, 3, 4, 8, 16, 32, 0x91)}


def _seeds_crc32c() -> dict[str, bytes]:
    return {f"crc-{n}-{split}": struct.pack("<IB", 0x12345678 ^ n, split) + bytes(range(256)) *
            (n // 256) + bytes(n % 256) for n in (0, 9, 200, 3000, 8000) for split in (0, 77, 255)}


def _seeds_vector() -> dict[str, bytes]:
    seeds = {}
    vals = [1.0, -2.5, 1e-40, 3e38, -1e19, 0.0, float("inf"), float("nan"), 7.0, 1e-7]
    f32 = struct.pack(f"<{len(vals)}f", *vals) * 4
    f64 = struct.pack(f"<{len(vals)}d", *[1e-310, 1e300, -2.0, 1e-160, 3.0, 0.0, 5e-324, 1e154,
                                          -1e200, 2.0]) * 2
    for op in range(8):
        for f64_flag in (0, 1):
            body = f64 if f64_flag else f32
            head = bytes([op | f64_flag << 3, 0x1D, 0x0B, 0x45 | (op & 3) << 6])
            seeds[f"vec-{op}-{f64_flag}"] = head + body
    return seeds


TARGETS = {  # target: (family sources, seeds, longest input)
    "csv": ("csv", _seeds_csv, 4096),
    "json": ("json", _seeds_json, 4096),
    "crc32c": ("crc32c", _seeds_crc32c, 16384),
    "vector": ("vector", _seeds_vector, 4096),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_kernel(target, tmp_path):
    family, seeds, max_len = TARGETS[target]
    src = [HERE / f"{target}_fuzz.c", KERNELS / "dispatch.c",
           *sorted((KERNELS / family).glob("*.c"))]
    # JSON with 128-byte stage-1 chunks, so chunk boundaries fall everywhere.
    defines = ("EH_JSON_CHUNK=128",) if target == "json" else ()
    exe = build_fuzzer(target, src, defines=defines)
    run_fuzzer(exe, target, tmp_path, seeds(), CORPUS / target, max_len=max_len)
    if target in PEERS:
        _against_peer(target, tmp_path / "seeds")


PEERS = {"csv": (peers.csv_peer, "csv kernel vs Python csv module"),
         "json": (peers.json_peer, "json-validate vs simdjson")}


def _against_peer(target, seed_dir):
    judge, what = PEERS[target]
    files = peers.corpus_files(target, seed_dir, CORPUS / target)
    mismatches = [f"{path}: {verdict}" for path in files
                  if (verdict := judge(path.read_bytes())) is not None]
    record("differential", target=what, inputs=len(files), mismatches=len(mismatches))
    assert not mismatches, (f"{len(mismatches)} disagreement(s) with the peer; keep each "
                            f"input in {CORPUS / target}:\n" + "\n".join(mismatches[:10]))


def test_peer_oracles_catch_a_wrong_answer(monkeypatch):
    """The peer checks can fail: a kernel that called everything valid, or
    that ended no row, would be caught on the simplest inputs."""
    from edgehost.kernels import csv as ck
    from edgehost.kernels import json as jk

    assert peers.json_peer(b"\0[1,]") is None and peers.csv_peer(b"\0a,b\nc") is None
    deep = b"\x08[[[[1]]]]"  # bit 3: also judged at max_depth 3
    assert peers.json_peer(deep) is None
    real = jk.json_check
    monkeypatch.setattr(jk, "json_check", lambda doc, **kw: real(doc))  # ignores max_depth
    assert peers.json_peer(deep) is not None
    monkeypatch.setattr(jk, "json_check", lambda doc, **kw: None)
    assert peers.json_peer(b"\0[1,]") is not None
    assert peers.json_peer(b"\0\xef\xbb\xbf[1]") is not None  # BOM: invalid for us
    monkeypatch.setattr(ck, "csv_rows", lambda data, **kw: [[data]])
    assert peers.csv_peer(b"\0a,b\nc") is not None
