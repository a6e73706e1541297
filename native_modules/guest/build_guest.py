"""Build the freestanding KVM guest images (called by setup.py's build_ext).

``build(dest_dir)`` links three static x86-64 ELFs into ``dest_dir``:

* ``edgehost-guest.elf``          -- guest runtime + every kernel;
* ``edgehost-guest-test.elf``     -- the same plus ``test_ops.c`` (misbehaving
  ops used by tests/kvm and by the bare-exit/reset benchmarks);
* ``edgehost-guest-doorbell.elf`` -- the runtime's loop alone, answering the
  doorbell with no kernel and no scrub: ``edgehost bench offload`` measures
  the machine's warm-call floor with it.

Kernel sources are globbed at build time (native_modules/kernels/**/*.c minus
``*_host.c``, ``*_fuzz.c``, ``*_main.c`` and anything under ``wasm/`` or
``tests/``), so new kernel files get in without edits here. No ``-march``:
per-ISA variants pick their ISA with ``#pragma GCC target``.

Stack discipline: every C file is compiled with ``-fstack-usage``; a function
whose stack use is unbounded (``dynamic``) fails the build, and the largest
frame sets ``EH_GUEST_STACK_GAP``, the run of zero bytes after which the
runtime's warm-path stack scrub may stop (see start.S).
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
    "-Wall", "-Wno-unused-parameter", "-fstack-usage",
    f"-I{NATIVE}", f"-I{NATIVE / 'include'}",
]
LDFLAGS = ["-nostdlib", "-static", "-no-pie", "-Wl,--build-id=none",
           "-Wl,-z,max-page-size=4096", "-Wl,-z,noexecstack", f"-Wl,-T,{HERE / 'guest.ld'}"]

# Beyond the largest frame: the System V red zone below rsp (128), dynamic
# realignment of a frame to 64 bytes (64), the scan's line granularity (64),
# and libgcc helpers linked in without stack-usage records (256).
STACK_GAP_EXTRA = 128 + 64 + 64 + 256


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


def _compile(src: pathlib.Path, obj: pathlib.Path, *defines: str) -> None:
    subprocess.run([_cc(), *CFLAGS, *defines, "-c", str(src), "-o", str(obj)], check=True)


def max_frame(su_files) -> int:
    """The largest frame in gcc's ``.su`` records; unbounded stack use is an error."""
    largest = 0
    for su in su_files:
        for line in pathlib.Path(su).read_text().splitlines():
            where, size, kind = line.rsplit("\t", 2)
            if kind == "dynamic":
                raise RuntimeError(f"{where}: stack use is unbounded (alloca or a VLA); the "
                                   "guest's warm-path stack scrub needs bounded frames")
            largest = max(largest, int(size))
    return largest


def build(dest_dir: pathlib.Path) -> list[pathlib.Path]:
    """Compile and link the guest images into ``dest_dir``; return their paths."""
    dest_dir = pathlib.Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    start, runtime, libc = HERE / "start.S", HERE / "runtime.c", HERE / "libc_min.c"
    kernels, tests = kernel_sources(), HERE / "test_ops.c"
    built = []
    with tempfile.TemporaryDirectory(prefix="eh-guest-") as tmp:
        tmpdir = pathlib.Path(tmp)
        objs = {}
        for i, src in enumerate([start, libc, *kernels, tests]):
            objs[src] = tmpdir / f"{i:03d}_{src.stem}.o"
            _compile(src, objs[src])
        gap = max_frame(tmpdir.glob("*.su")) + STACK_GAP_EXTRA
        gap = (gap + 63) & ~63
        served = tmpdir / "runtime.o"
        _compile(runtime, served, f"-DEH_GUEST_STACK_GAP={gap}")
        bell = tmpdir / "runtime_doorbell.o"
        _compile(runtime, bell, f"-DEH_GUEST_STACK_GAP={gap}", "-DEH_GUEST_DOORBELL")
        if max_frame([served.with_suffix(".su"), bell.with_suffix(".su")]) + STACK_GAP_EXTRA > gap:
            raise RuntimeError("runtime.c has a frame larger than the kernels' largest")
        images = {
            "edgehost-guest.elf": [objs[start], served, objs[libc], *(objs[k] for k in kernels)],
            "edgehost-guest-test.elf": [objs[start], served, objs[libc],
                                        *(objs[k] for k in kernels), objs[tests]],
            "edgehost-guest-doorbell.elf": [objs[start], bell, objs[libc]],
        }
        for name, link in images.items():
            out = tmpdir / name
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
