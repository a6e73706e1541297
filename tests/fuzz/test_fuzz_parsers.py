"""libFuzzer runs of the CSV and JSON kernels (csv_fuzz.c, json_fuzz.c):
ASan + UBSan, inputs in exact-size allocations, every ISA variant compared.

Default: 2 seconds per target. On demand, longer:
    EDGEHOST_FUZZ_SECONDS=600 pytest tests/fuzz -k csv
Crash inputs are left in the test's tmp dir and named in the failure.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1] / "native_modules"
SECONDS = int(os.environ.get("EDGEHOST_FUZZ_SECONDS", "2"))

SEEDS = {
    "json": [b'{"a":[1,2,{"b":null}],"c":"x\\u00e9y"}', b"[1,2,]", b'"\\ud83d\\ude00"',
             b"[1e5,-0.5,01]", '{"é":[true,false]}'.encode(), b'"' + b"a" * 70 + b'\\\\"',
             b'{"a" : [ "x\\"", 1.5e-3 ] }', b"[[[[[[]]]]]]", b'"\xe2\x82"',
             b'{"a":[1,{"b":2.5e-3}],"c~":3}\0\0/a/1/b', b'{"\\u00e9":[0]}\0\0/\xc3\xa9/0'],
    "csv": [b'a,b\r\n"c""d",e\n', b'"x\ny",,\n\nz', b'a"b,"c"d', b"'q;r';s\n",
            b'"ab"c,d\r\n"e', b"," * 70 + b'"\n"'],
}


def _build(target: str) -> pathlib.Path:
    clang = shutil.which("clang")
    if not clang:
        pytest.skip("clang not installed (apt-get install clang)")
    srcs = [HERE / f"{target}_fuzz.c", ROOT / "kernels" / "dispatch.c",
            *sorted((ROOT / "kernels" / target).glob("*.c"))]
    headers = [HERE / "fuzz_common.h", *sorted((ROOT / "kernels").rglob("*.h")),
               *sorted((ROOT / "include").glob("*.h"))]
    h = hashlib.sha256()
    for p in srcs + headers:
        h.update(p.read_bytes())
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    exe = cache / "edgehost" / "fuzz" / f"{target}-{h.hexdigest()[:16]}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run(
        [clang, "-O1", "-g", "-fsanitize=fuzzer,address,undefined", "-DEH_JSON_CHUNK=128",
         "-fno-sanitize-recover=undefined", f"-I{ROOT}", f"-I{ROOT / 'include'}",
         *map(str, srcs), "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        if "fuzzer" in proc.stderr and "cannot find" in proc.stderr:
            pytest.skip("libFuzzer runtime missing (apt-get install libclang-rt-dev)")
        raise AssertionError(proc.stderr[-3000:])
    tmp.replace(exe)
    return exe


@pytest.mark.parametrize("target", ["csv", "json"])
def test_fuzz(target, tmp_path):
    exe = _build(target)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS[target]):
        for ctl in (0, 1, 2, 3, 4, 8, 16, 32, 0x91):
            (corpus / f"seed{i}-{ctl}").write_bytes(bytes([ctl]) + seed)
    proc = subprocess.run(
        [str(exe), f"-max_total_time={SECONDS}", "-max_len=4096", "-print_final_stats=1",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=SECONDS + 120)
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash", "leak")))
    assert proc.returncode == 0 and not crashes, (crashes, proc.stderr[-3000:])
