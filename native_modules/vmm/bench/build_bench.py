"""cffi (API mode) builder for ``edgehost.native_modules._bench``: the C
latency loops of ``edgehost bench`` (latency.c), kept out of the production
module ``_native``. It includes ``_native``'s declarations (``ffi.include``)
so the function pointers Python takes from ``_native`` pass straight in."""

from __future__ import annotations

import importlib.util
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
NATIVE = HERE.parent.parent

# The declarations Python calls: latency.h itself, less its preprocessor
# lines (cffi's cdef takes none of them), so they are written once.
CDEF = "\n".join(line for line in (HERE / "latency.h").read_text().splitlines()
                  if not line.startswith("#"))


def _native_builder():
    spec = importlib.util.spec_from_file_location("eh_build_ffi", NATIVE / "build_ffi.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_ffi() -> FFI:
    """Return the configured FFI builder (cffi's ``cffi_modules`` entry point)."""
    native = _native_builder()
    ffibuilder = FFI()
    ffibuilder.include(native.make_ffi())  # its types, declared by its headers
    ffibuilder.cdef(CDEF)
    ffibuilder.set_source(
        "edgehost.native_modules._bench",
        '#include "vmm/bench/latency.h"\n' + native._cdef_and_header()[1],
        sources=[str((HERE / "latency.c").relative_to(NATIVE.parent))],
        include_dirs=[str(NATIVE), str(NATIVE / "include")],
        extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    )
    return ffibuilder


ffibuilder = make_ffi()
