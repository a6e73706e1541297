"""Build hooks and the package map.

The repository keeps the design card's top-level folders; the installed
package is one import name, ``edgehost``:

    host/            -> edgehost/
    wasm_config/     -> edgehost/wasm_config/
    native_modules/  -> edgehost/native_modules/   (the cffi extension ``_native``,
                        the Python API's in-process fast path ``_fastcall``,
                        the KVM guest image, and the kernel sources that
                        ``edgehost bench`` compiles to wasm32)
    sdk/, examples/  -> edgehost/_bundled/          (``edgehost build``/``demo``)

The native module is built for CPython's stable ABI, so one wheel serves
every supported Python (tag ``cp311-abi3``).
"""

import importlib.util
import pathlib
import shutil

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent

PACKAGE_DIR = {
    "edgehost": "host",
    "edgehost.wasm_config": "wasm_config",
    "edgehost.native_modules": "native_modules",
}
PACKAGES = (["edgehost"] + [f"edgehost.{p}" for p in find_packages("host")]
            + ["edgehost.wasm_config", "edgehost.native_modules"])
# Sources the installed package needs at run time: the guest image (built
# below) and what the wasm32 kernel builds of the benchmarks compile.
NATIVE_DATA = ["guest/*.elf", "include/*.h", "kernels/*.h", "kernels/*.c", "kernels/*/*.h",
               "kernels/*/*.c"]


class BuildWithGuest(build_ext):
    """build_ext that also links the freestanding guest image(s)."""

    def run(self):
        super().run()
        builder = ROOT / "native_modules" / "guest" / "build_guest.py"
        spec = importlib.util.spec_from_file_location("build_guest", builder)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if self.inplace:
            mod.build(ROOT / "native_modules" / "guest")
        else:
            mod.build(pathlib.Path(self.build_lib) / "edgehost" / "native_modules" / "guest")


class BuildWithBundle(build_py):
    """build_py that bundles sdk/ and examples/ into edgehost/_bundled (used by
    ``edgehost build`` and ``edgehost demo`` in non-editable installs)."""

    def run(self):
        super().run()
        dest = pathlib.Path(self.build_lib) / "edgehost" / "_bundled"
        for name in ("sdk", "examples"):
            target = dest / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / name, target,
                            ignore=shutil.ignore_patterns("*.wasm", "target", "__pycache__"))


# The in-process per-call path of the Python kernel API (a plain CPython
# extension: cheaper per call than cffi; see native_modules/fastcall/fastcall.c).
FASTCALL = Extension(
    "edgehost.native_modules._fastcall",
    sources=["native_modules/fastcall/fastcall.c"],
    include_dirs=["native_modules/include"],
    define_macros=[("Py_LIMITED_API", "0x030B0000")],
    py_limited_api=True,
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Wno-cast-function-type"],
)

setup(
    packages=PACKAGES,
    ext_modules=[FASTCALL],
    package_dir=PACKAGE_DIR,
    package_data={"edgehost.native_modules": NATIVE_DATA,
                  "edgehost.bench": ["tenants/*/*.c", "tenants/*/*.toml"]},
    cffi_modules=["native_modules/build_ffi.py:ffibuilder",
                  "native_modules/vmm/bench/build_bench.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithGuest, "build_py": BuildWithBundle},
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
