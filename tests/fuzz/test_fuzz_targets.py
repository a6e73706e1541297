"""Coverage-guided fuzzing (libFuzzer, AddressSanitizer + UBSan) of the code
that parses what a tenant or a guest image controls, other than the kernels
(test_fuzz_kernels.py):

* ``elf``: the guest ELF loader (native_modules/vmm/elf_load.c);
* ``msgpack``: the C SDK's msgpack reader (sdk/c/edgehost_msgpack.h), and
  differentially, on the corpus the fuzzer built, against the msgpack
  package (a replay build of the same file prints what the C walker decoded);
* ``hostapi``: every edgehost.* callback against a fake linear memory, with
  an oracle for when each must trap (tests/fuzz/hostapi_fuzz.c).

Each runs EDGEHOST_FUZZ_SECONDS (default 3) after replaying its regression
inputs (tests/fuzz/corpus/TARGET: every crash found becomes one). Long runs:

    EDGEHOST_FUZZ_SECONDS=600 python -m pytest tests/fuzz -k "elf or msgpack or hostapi"

The corpus grows across runs on one machine (~/.cache/edgehost/fuzz-corpus).
"""

from __future__ import annotations

import pathlib
import struct
import subprocess

import msgpack

from edgehost.isolation import guest as vmm
from edgehost.wasm_config import abi
from tests.support import (
    NATIVE,
    build_fuzzer,
    msgpack_reference,
    record,
    run_fuzzer,
)

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


# -- the guest ELF loader -------------------------------------------------------------------
def _tiny_elf(segments, entry=0x400000) -> bytes:
    """A minimal static x86-64 ELF: header, program headers, then the bytes."""
    phoff, n = 64, len(segments)
    data_at = phoff + 56 * n
    head = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1, entry,
                       phoff, 0, 0, 64, 56, n, 64, 0, 0)
    phdrs, blob = b"", b""
    for vaddr, flags, payload, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, flags, data_at + len(blob), vaddr, vaddr,
                             len(payload), memsz, 0x1000)
        blob += payload
    return head + phdrs + blob


def elf_seeds() -> dict[str, bytes]:
    code = b"\x90" * 15 + b"\xc3"
    return {
        "image": vmm.IMAGE.read_bytes(),
        "test-image": vmm.TEST_IMAGE.read_bytes(),
        "tiny-rx": _tiny_elf([(0x400000, 5, code, 16)]),
        "tiny-rx-rw": _tiny_elf([(0x400000, 5, code, 16), (0x401000, 6, b"d" * 8, 0x2000)]),
        "tiny-three": _tiny_elf([(0x400000, 5, code, 16), (0x401000, 4, b"r" * 8, 8),
                                 (0x402000, 6, b"", 0x10)]),
        "tiny-edge": _tiny_elf([(0xBFF000, 5, code, 0x1000)], entry=0xBFF000),
    }


def test_fuzz_elf(tmp_path):
    exe = build_fuzzer("elf", [HERE / "elf_fuzz.c", NATIVE / "vmm" / "elf_load.c"])
    run_fuzzer(exe, "elf", tmp_path, elf_seeds(), CORPUS / "elf", max_len=1 << 18,
               extra=("-use_value_profile=1",))


# -- the C SDK's msgpack reader -----------------------------------------------------------------
MSGPACK_VALUES = [None, True, False, 0, 127, 128, -1, -32, -33, -129, 2**31, -2**31 - 1,
                  2**63 - 1, -2**63, 2**64 - 1, 1.5, float("inf"), "", "x" * 31, "é" * 40,
                  b"", b"\0" * 300, [], [1, [2, [3]]], {}, {"a": {"b": [None, 1.0]}},
                  list(range(20)), {str(i): i for i in range(20)}]


def msgpack_seeds() -> dict[str, bytes]:
    seeds = {f"v{i}": msgpack.packb(v, use_bin_type=True) for i, v in enumerate(MSGPACK_VALUES)}
    seeds.update({
        "float32": b"\xca\x3f\xc0\x00\x00", "str32": b"\xdb\x00\x00\x00\x02hi",
        "array32-short": b"\xdd\xff\xff\xff\xff\xc0",
        "map16-dup": b"\xde\x00\x02\xa1k\x01\xa1k\x02",
        "ext": b"\xd4\x01\x02", "bad-utf8": b"\xa2\xff\xfe", "nested": b"\x91" * 200 + b"\xc0",
        "uint8-nonminimal": b"\xcc\x05", "int64-nonminimal": b"\xd3" + bytes(7) + b"\x01",
    })
    return seeds


def test_fuzz_msgpack(tmp_path):
    src = [HERE / "msgpack_fuzz.c"]
    exe = build_fuzzer("msgpack", src)
    run_fuzzer(exe, "msgpack", tmp_path, msgpack_seeds(), CORPUS / "msgpack", max_len=2048,
               extra=("-use_value_profile=1",))
    # Differential: the C walker's answer on every input the fuzzer kept
    # against the msgpack package's.
    replay = build_fuzzer("msgpack-replay", src, defines=("EH_FUZZ_REPLAY",), fuzzer=False)
    files = sorted(p for d in (corpus_dir("msgpack"), tmp_path / "seeds", CORPUS / "msgpack")
                   if d.is_dir() for p in d.iterdir() if p.is_file())
    mismatches, compared = [], 0
    for i in range(0, len(files), 500):
        batch = files[i:i + 500]
        out = subprocess.run([str(replay), *map(str, batch)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
        assert len(out) == len(batch)
        for path, got in zip(batch, out, strict=True):
            want = msgpack_reference(path.read_bytes(), utf8_strict=False, int64_only=True)
            compared += 1
            if got != want:
                mismatches.append((path.name, path.read_bytes()[:64].hex(), got[:80], want[:80]))
    record("differential", target="msgpack C SDK vs msgpack package", inputs=compared,
           mismatches=len(mismatches))
    assert not mismatches, mismatches[:10]


def corpus_dir(target: str) -> pathlib.Path:
    import os

    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return cache / "edgehost" / "fuzz-corpus" / target


# -- the host API's bounds checks ---------------------------------------------------------------
def hostapi_seeds() -> dict[str, bytes]:
    seeds = {}
    page = 65536
    for i, imp in enumerate(abi.IMPORTS):
        n = len(imp.params)
        for ctl in (1, 2, 0x82, 9):  # 1 page, 2 pages, 2 pages + sink, 1 page + tail
            good = struct.pack(f"<{n}I", *([64] * n)) if n else b""
            edge = struct.pack(f"<{n}I", *([page - 8] * n)) if n else b""
            seeds[f"{imp.name}-{ctl}-good"] = bytes([i, ctl]) + good
            seeds[f"{imp.name}-{ctl}-edge"] = bytes([i, ctl]) + edge
    hdr = [i for i, imp in enumerate(abi.IMPORTS) if imp.name == "request_header"][0]
    name = struct.pack("<4I", 0, 4, 64, 64)  # "x-a" at 0 (memory is zero: no match), out 64
    for i, headers in enumerate([{"x-a": "1"}, {"a" * 40: "b" * 300}, {}, {"k": "v" * 70000}]):
        seeds[f"headers-{i}"] = bytes([hdr, 0x41]) + name + msgpack.packb(headers)
    off = [i for i, imp in enumerate(abi.IMPORTS) if imp.name == "offload"][0]
    for kernel in abi.KERNELS.values():
        req = struct.pack("<II4QIIIIII", kernel, 0, 3, 1, 0, 0, 256, 64, 256, 64, 512, 256)
        for ctl in (1, 0x81):
            seeds[f"offload-k{kernel}-{ctl}"] = (bytes([off, ctl]) + struct.pack("<II", 0, 128)
                                                 + req + bytes(192) + b"1,2\n3,4\n" * 8)
    return seeds


def test_fuzz_hostapi(tmp_path):
    wasmhost = NATIVE / "wasmhost"
    src = [HERE / "hostapi_fuzz.c", *sorted(wasmhost.glob("hostapi_*.c")),
           wasmhost / "registry.c", wasmhost / "fresh.c",
           # the kv imports' store: the in-process backend (no library to link)
           NATIVE / "state" / "kv_store.c", NATIVE / "state" / "kv_memory.c"]
    exe = build_fuzzer("hostapi", src)
    run_fuzzer(exe, "hostapi", tmp_path, hostapi_seeds(), CORPUS / "hostapi", max_len=1024)


def test_oracle_table_matches_the_abi():
    """hostapi_fuzz.c's RANGES mirrors abi.py's import order (the fuzzer
    checks it against registry.c at run time too)."""
    text = (HERE / "hostapi_fuzz.c").read_text()
    names = [line.split('"')[1] for line in text.splitlines() if line.strip().startswith('{"')]
    assert names == [imp.name for imp in abi.IMPORTS]
