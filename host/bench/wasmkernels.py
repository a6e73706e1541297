"""The kernels compiled to wasm32 and run under wasmtime, for the benchmarks.

``build(flavor)`` compiles every kernel family's C sources (the very files
the host module and the KVM guest use) plus native_modules/kernels/wasm/
harness.c with clang into a cached module: ``scalar`` (plain wasm32) or
``simd128`` (-msimd128: the compiler vectorizes the portable code). The
module imports nothing. :class:`WasmKernels` loads one, places inputs in its
linear memory and times ``eh_wasm_run_many``, which loops inside WASM so a
Python->WASM call (~20 us) does not dominate.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import struct
import subprocess
import time

from edgehost import native_modules
from edgehost.errors import BuildError, ToolchainMissing

# The kernel sources ship with the package (setup.py NATIVE_DATA).
ROOT = pathlib.Path(native_modules.__file__).resolve().parent
KERNELS = ROOT / "kernels"
FLAVORS = {"scalar": [], "simd128": ["-msimd128"]}
FAMILIES = ("crc32c", "csv", "json", "vector")
CFLAGS = ["--target=wasm32", "-O3", "-ffreestanding", "-nostdlib", "-fno-math-errno",
          "-std=gnu11", "-Wl,--no-entry", f"-I{ROOT}", f"-I{ROOT / 'include'}",
          *(f"-Wl,--export-if-defined=eh_{f}_variant" for f in FAMILIES)]
REQ = struct.Struct("<II4Q6Q")   # eh_offload_req (88 bytes)
RES = struct.Struct("<iIQQQ")    # eh_offload_res (32 bytes)


_failed: dict[pathlib.Path, BuildError] = {}


def sources() -> list[pathlib.Path]:
    """Kernel sources for wasm32: all families' .c files, the dispatcher, the harness."""
    out = []
    for path in sorted(KERNELS.rglob("*.c")):
        rel = path.relative_to(KERNELS)
        if {"wasm", "tests"} & set(rel.parts[:-1]) or path.name == "dispatch_host.c":
            continue
        if path.name.endswith(("_fuzz.c", "_main.c")):
            continue
        out.append(path)
    return out + [KERNELS / "wasm" / "harness.c"]


def cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return pathlib.Path(base) / "edgehost" / "wasm-kernels"


def build(flavor: str = "scalar") -> pathlib.Path:
    """Compile (or reuse from the cache) the wasm32 kernel module of ``flavor``."""
    clang = shutil.which("clang")
    if not clang or not shutil.which("wasm-ld"):
        raise ToolchainMissing("clang with wasm-ld", "apt-get install clang lld")
    srcs = sources()
    flags = CFLAGS + FLAVORS[flavor]
    h = hashlib.sha256("\0".join(flags).encode())
    for path in srcs + sorted(ROOT.glob("include/*.h")) + sorted(KERNELS.rglob("*.h")):
        h.update(str(path).encode())
        h.update(path.read_bytes())
    out = cache_dir() / f"kernels-{flavor}-{h.hexdigest()[:16]}.wasm"
    if out.exists():
        return out
    if out in _failed:  # same sources, same flags: the same error, without recompiling
        raise _failed[out]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run([clang, *flags, "-o", str(tmp), *map(str, srcs)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        _failed[out] = BuildError(f"wasm32 kernels ({flavor})", proc.stderr + proc.stdout)
        raise _failed[out]
    tmp.replace(out)  # atomic: concurrent builders never see a partial module
    return out


class WasmKernels:
    """One instance of the wasm32 kernel module, with helpers to run requests."""

    def __init__(self, flavor: str = "scalar", force: str | None = None):
        import wasmtime

        self.flavor = flavor
        self.engine = wasmtime.Engine()
        self.store = wasmtime.Store(self.engine)
        module = wasmtime.Module.from_file(self.engine, str(build(flavor)))
        inst = wasmtime.Instance(self.store, module, [])
        ex = inst.exports(self.store)
        self.memory = ex["memory"]
        self._exports = ex
        self._init, self._alloc = ex["eh_wasm_init"], ex["eh_wasm_alloc"]
        self._reset, self._run_many = ex["eh_wasm_reset"], ex["eh_wasm_run_many"]
        self.reset()
        force_ptr = self.put(force.encode() + b"\0") if force else 0
        self._init(self.store, force_ptr)

    def variant(self, family: str) -> str | None:
        """The variant ``family`` runs in this module (None if the module lacks it)."""
        fn = self._exports.get(f"eh_{family}_variant")
        if fn is None:
            return None
        ptr = fn(self.store)
        raw = self.read(ptr, 32)
        return raw.split(b"\0", 1)[0].decode()

    def reset(self) -> None:
        """Forget every buffer placed so far."""
        self._reset(self.store)
        self.req = self.alloc(REQ.size)
        self.res = self.alloc(RES.size)

    def alloc(self, n: int) -> int:
        ptr = self._alloc(self.store, n)
        if ptr == 0 and n:
            raise MemoryError(f"wasm32 kernels: cannot grow linear memory by {n} bytes")
        return ptr

    def put(self, data) -> int:
        """Copy ``data`` into linear memory; return its address."""
        raw = bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
        ptr = self.alloc(len(raw))
        if raw:
            self.memory.write(self.store, raw, ptr)
        return ptr

    def request(self, kernel: int, *, data=(0, 0), data2=(0, 0), out=(0, 0),
                args: tuple[int, ...] = (), flags: int = 0) -> None:
        """Write the request: ``data``/``data2``/``out`` are (address, length) pairs."""
        a = (list(args) + [0, 0, 0, 0])[:4]
        self.memory.write(self.store, REQ.pack(kernel, flags, *a, *data, *data2, *out), self.req)

    def run(self, n: int = 1) -> tuple[int, int, int, int, int]:
        """Run the request n times; return the result (status, detail, value, out_len, off)."""
        self._run_many(self.store, self.req, self.res, n)
        return RES.unpack(self.memory.read(self.store, self.res, self.res + RES.size))

    def read(self, ptr: int, n: int) -> bytes:
        return bytes(self.memory.read(self.store, ptr, ptr + n))

    def seconds_per_run(self, *, target_s: float = 0.05, repeat: int = 5) -> list[float]:
        """Seconds per kernel run for ``repeat`` timings of a loop inside WASM."""
        n = 1
        while True:
            t0 = time.perf_counter()
            self.run(n)
            dt = time.perf_counter() - t0
            if dt >= target_s / 4 or n >= 1 << 24:
                break
            n *= 4
        n = max(1, int(n * target_s / max(dt, 1e-9)))
        out = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            self.run(n)
            out.append((time.perf_counter() - t0) / n)
        return out
