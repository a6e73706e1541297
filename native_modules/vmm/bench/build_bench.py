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

CDEF = """
typedef eh_offload_status (*eh_bench_run_fn)(eh_vm *vm, const eh_offload_req *req,
                                             eh_offload_res *res, uint64_t deadline_ns,
                                             char *err, size_t errlen);
typedef eh_offload_status (*eh_bench_park_fn)(eh_vm *vm, uint32_t timeout_ms);
typedef void (*eh_bench_kernel_fn)(const eh_offload_req *req, eh_offload_res *res);
eh_offload_status eh_bench_calls(eh_bench_run_fn run, eh_bench_park_fn park, eh_vm *vm,
                                 const eh_offload_req *req, uint32_t n, uint64_t *lat_ns,
                                 char *err, size_t errlen);
void eh_bench_inproc(eh_bench_kernel_fn kernel, const eh_offload_req *req, uint32_t n,
                     uint64_t *lat_ns);
"""


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
