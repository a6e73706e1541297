"""The CSV and JSON kernel sources stay freestanding: compiled on their own,
their objects need nothing outside the kernels but memcpy/memset/memmove/
memcmp (what the KVM guest runtime and the wasm32 harness provide)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "native_modules"
ALLOWED = {"memcpy", "memset", "memmove", "memcmp"}
SOURCES = sorted((ROOT / "kernels" / "csv").glob("*.c")) + sorted(
    (ROOT / "kernels" / "json").glob("*.c"))


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_undefined_symbols(src, tmp_path):
    if not (shutil.which("gcc") and shutil.which("nm")):
        pytest.skip("needs gcc and nm")
    obj = tmp_path / (src.stem + ".o")
    subprocess.run(["gcc", "-O3", "-std=gnu11", "-ffreestanding", "-fno-builtin-printf",
                    "-fno-stack-protector", "-c", str(src), f"-I{ROOT}", f"-I{ROOT / 'include'}",
                    "-o", str(obj)], check=True)
    undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                               check=True).stdout.split()
    names = {u for u in undefined if u != "U"}
    assert {n for n in names if not n.startswith("eh_")} <= ALLOWED, names
