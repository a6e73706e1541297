"""Build the freestanding KVM guest images (called by setup.py's build_ext).

``build(dest_dir)`` links two static x86-64 ELFs into ``dest_dir``:

* ``edgehost-guest.elf``      -- guest runtime + every kernel;
* ``edgehost-guest-test.elf`` -- the same plus ``test_ops.c`` (misbehaving ops
  used by tests/kvm and by the bare-exit/reset benchmarks).

Kernel sources are globbed at build time (native_modules/kernels/**/*.c minus
``*_host.c``, ``*_fuzz.c``, ``*_main.c`` and anything under ``wasm/`` or
``tests/``), so new kernel files get in without edits here. No ``-march``:
per-ISA variants pick their ISA with ``#pragma GCC target``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
NATIVE = HERE.parent
EXCLUDED_DIRS = {"wasm", "tests"}
EXCLUDED_SUFFIXES = ("_host.c", "_fuzz.c", "_main.c")

CFLAGS = [
    "-O3", "-std=gnu11", "-ffreestanding", "-fno-pic", "-fno-pie", "-static",
    "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
    "-fcf-protection=none", "-fno-plt", "-mcmodel=small", "-fno-common",
    "-Wall", "-Wno-unused-parameter",
    f"-I{NATIVE}", f"-I{NATIVE / 'include'}",
]
LDFLAGS = ["-nostdlib", "-static", "-no-pie", "-Wl,--build-id=none",
           "-Wl,-z,max-page-size=4096", "-Wl,-z,noexecstack", f"-Wl,-T,{HERE / 'guest.ld'}"]
IMAGES = {
    "edgehost-guest.elf": [],
    "edgehost-guest-test.elf": [HERE / "test_ops.c"],
}


def kernel_sources() -> list[pathlib.Path]:
    """Every kernel translation unit that belongs in the guest (see module doc)."""
    out = []
    root = NATIVE / "kernels"
    for path in sorted(root.rglob("*.c")):
        rel = path.relative_to(root)
        if EXCLUDED_DIRS & set(rel.parts[:-1]) or path.name.endswith(EXCLUDED_SUFFIXES):
            continue
        out.append(path)
    return out


def _cc() -> str:
    return os.environ.get("EDGEHOST_GUEST_CC", "gcc")


def _compile(src: pathlib.Path, obj: pathlib.Path) -> None:
    subprocess.run([_cc(), *CFLAGS, "-c", str(src), "-o", str(obj)], check=True)


def build(dest_dir: pathlib.Path) -> list[pathlib.Path]:
    """Compile and link the guest images into ``dest_dir``; return their paths."""
    dest_dir = pathlib.Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    common = [HERE / "start.S", HERE / "runtime.c", HERE / "libc_min.c", *kernel_sources()]
    built = []
    with tempfile.TemporaryDirectory(prefix="eh-guest-") as tmp:
        tmpdir = pathlib.Path(tmp)
        objs = {}
        for i, src in enumerate(common + [HERE / "test_ops.c"]):
            obj = tmpdir / f"{i:03d}_{src.stem}.o"
            _compile(src, obj)
            objs[src] = obj
        for name, extra in IMAGES.items():
            out = tmpdir / name
            link = [objs[s] for s in common + extra]
            subprocess.run([_cc(), *LDFLAGS, "-o", str(out), *map(str, link), "-lgcc"],
                           check=True)
            final = dest_dir / name
            shutil.copyfile(out, final)
            built.append(final)
    return built


if __name__ == "__main__":
    import sys

    for p in build(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else HERE)):
        print(p)
