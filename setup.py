"""Build hooks: the cffi extension (native_modules._native) and the KVM guest
image (native_modules/guest/*.elf), both compiled from source at install time."""

import importlib.util
import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent


class BuildWithGuest(build_ext):
    """build_ext that also links the freestanding guest image(s)."""

    def run(self):
        super().run()
        builder = ROOT / "native_modules" / "guest" / "build_guest.py"
        if not builder.exists():
            return
        spec = importlib.util.spec_from_file_location("build_guest", builder)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        dest_root = ROOT if self.inplace else pathlib.Path(self.build_lib)
        mod.build(dest_root / "native_modules" / "guest")


class BuildWithBundle(build_py):
    """build_py that bundles sdk/ and examples/ into host/_bundled (used by
    ``edgehost build`` and ``edgehost demo`` in non-editable installs)."""

    def run(self):
        super().run()
        dest = pathlib.Path(self.build_lib) / "host" / "_bundled"
        for name in ("sdk", "examples"):
            target = dest / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / name, target,
                            ignore=shutil.ignore_patterns("*.wasm", "target", "__pycache__"))


setup(
    cffi_modules=["native_modules/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithGuest, "build_py": BuildWithBundle},
)
