"""cffi (API mode) builder for ``edgehost.native_modules._native``.

Each component folder (``wasmhost``, ``kernels``, ``vmm``, ``serving``, ``state``) owns:

* ``ffi.h``     -- the declarations Python may call, ``#include``-d into the module;
* ``ffi.cdef``  -- the same declarations in cffi's cdef dialect;
* ``**/*.c``    -- its sources (files under a ``wasm/``, ``tests/`` or ``bench/``
  folder, and ``*_fuzz.c`` / ``*_main.c`` files, are left out: they are built by
  other steps; ``vmm/bench/`` is the bench-only module ``_bench``).

Components never edit each other's files; this builder only concatenates them.
Per-ISA kernels select their instruction set with ``#pragma GCC target`` or
``__attribute__((target))`` so that the whole module builds with one flag set
and the dispatcher chooses at run time.
"""

from __future__ import annotations

import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
COMPONENTS = ("wasmhost", "kernels", "vmm", "serving", "state")
# System libraries the components link (Debian -dev packages: tests/system-packages.txt
# and the README's install line): serving/ is built on libmicrohttpd, state/ on
# LMDB and hiredis.
LIBRARIES = ["microhttpd", "lmdb", "hiredis"]
EXCLUDED_DIRS = {"wasm", "tests", "bench"}


def _sources() -> list[str]:
    out: list[str] = []
    for comp in COMPONENTS:
        for path in sorted((HERE / comp).rglob("*.c")):
            rel = path.relative_to(HERE / comp)
            if EXCLUDED_DIRS & set(rel.parts[:-1]):
                continue
            if path.name.endswith(("_fuzz.c", "_main.c")):
                continue
            out.append(str(path.relative_to(HERE.parent)))
    return out


def _headers() -> list[str]:
    """Every header the sources may include: a changed one rebuilds the module
    (the build only compares timestamps of what it is told about)."""
    return sorted(str(p.relative_to(HERE.parent)) for p in HERE.rglob("*.h"))


def _cdef_and_header() -> tuple[str, str]:
    cdefs, includes = [], []
    for comp in COMPONENTS:
        cdef = HERE / comp / "ffi.cdef"
        if cdef.exists():
            cdefs.append(cdef.read_text())
        if (HERE / comp / "ffi.h").exists():
            includes.append(f'#include "{comp}/ffi.h"')
    return "\n".join(cdefs), "\n".join(includes)


def make_ffi() -> FFI:
    """Return the configured FFI builder (cffi's ``cffi_modules`` entry point)."""
    ffibuilder = FFI()
    cdef, header = _cdef_and_header()
    ffibuilder.cdef(cdef)
    ffibuilder.set_source(
        "edgehost.native_modules._native",
        header,
        sources=_sources(),
        depends=_headers(),
        include_dirs=[str(HERE), str(HERE / "include")],
        extra_compile_args=[
            "-O3",
            "-std=gnu11",
            "-pthread",
            "-fno-strict-aliasing",
            "-Wall",
            "-Wextra",
            "-Wno-unused-parameter",
            "-Werror=implicit-function-declaration",  # a missing prototype truncates pointers
        ],
        libraries=LIBRARIES,
        extra_link_args=["-pthread", "-ldl"],
    )
    return ffibuilder


ffibuilder = make_ffi()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parent), verbose=True)
