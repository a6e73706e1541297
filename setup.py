"""Build hooks: the cffi extension (native_modules._native) and the KVM guest
image (native_modules/guest/*.elf), both compiled from source at install time."""

import importlib.util
import pathlib

from setuptools import setup
from setuptools.command.build_ext import build_ext

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


setup(
    cffi_modules=["native_modules/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithGuest},
)
