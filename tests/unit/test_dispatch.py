"""The kernel dispatcher: variant selection by CPU bits, the forcing grammar
of EDGEHOST_KERNEL_VARIANT (kernels/dispatch.h), per-family setters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgehost.errors import KernelError
from edgehost.kernels import crc32c
from edgehost.kernels._common import active_variant, call, variants
from edgehost.native import ffi, kernels_lib

lib = kernels_lib()
CPU = lib.eh_cpu_detect()


@pytest.fixture
def reinit():
    """Run eh_kernels_init_with(cpu, force); restore the process's own choice after."""

    def init(cpu: int, force: str | None):
        keep.append(ffi.new("char[]", force.encode()) if force is not None else ffi.NULL)
        lib.eh_kernels_init_with(cpu, keep[-1])
        return active_variant("crc32c"), active_variant("vector")

    keep: list = []
    yield init
    lib.eh_kernels_init()


def best(family: str) -> str:
    return [name for name, ok in variants(family) if ok][-1]


def test_no_cpu_features_gives_generic(reinit):
    assert reinit(0, None) == ("slice16", "scalar")


def test_pins_by_family(reinit):
    if not dict(variants("vector")).get("avx2") or not dict(variants("crc32c")).get("sse42"):
        pytest.skip("CPU lacks AVX2 or SSE4.2")
    assert reinit(CPU, "crc32c=sse42,vector=avx2") == ("sse42", "avx2")


def test_bare_name_pins_every_family_that_has_it(reinit):
    assert reinit(CPU, "scalar") == (best("crc32c"), "scalar")
    assert reinit(CPU, "byte") == ("byte", best("vector"))


def test_other_familys_pin_and_unknown_names_are_ignored(reinit):
    assert reinit(CPU, "vector=byte,crc32c=nonsense,json=avx2") == (best("crc32c"),
                                                                    best("vector"))


def test_pin_the_cpu_cannot_run_is_ignored(reinit):
    assert reinit(0, "crc32c=avx512,vector=avx512") == ("slice16", "scalar")


def test_last_item_wins(reinit):
    assert reinit(CPU, "crc32c=byte,crc32c=slice8")[0] == "slice8"


def test_environment_variable_pins_the_process():
    env = dict(os.environ, EDGEHOST_KERNEL_VARIANT="crc32c=byte,vector=scalar")
    out = subprocess.run(
        [sys.executable, "-c",
         "from edgehost.kernels._common import active_variant as a;"
         "print(a('crc32c'), a('vector'))"],
        env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["byte", "scalar"]


FAMILIES = ["crc32c", "csv", "json", "vector"]  # every family follows dispatch.h's contract


@pytest.mark.parametrize("family", FAMILIES)
def test_set_variant_rejects_unknown_and_keeps_active(family):
    setter = getattr(lib, f"eh_{family}_set_variant")
    before = active_variant(family)
    assert setter(b"no-such-variant") == -1
    assert active_variant(family) == before


@pytest.mark.parametrize("family", FAMILIES)
def test_generic_variant_first_and_always_runnable(family):
    vs = variants(family)
    assert vs[0][1] is True
    if not os.environ.get("EDGEHOST_KERNEL_VARIANT"):  # unpinned: the best one runs
        assert active_variant(family) == best(family)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_runnable_variant_can_be_pinned(family):
    setter = getattr(lib, f"eh_{family}_set_variant")
    before = active_variant(family)
    try:
        for name, ok in variants(family):
            assert (setter(name.encode()) == 0) == ok
            if ok:
                assert active_variant(family) == name
    finally:
        setter(before.encode())


def test_unknown_kernel_id_is_not_supported():
    with pytest.raises(KernelError) as exc:
        call("nope", 999, isolation="inproc")
    assert exc.value.code == -4


def test_run_many_repeats_the_request():
    data = b"123456789"
    req = ffi.new("eh_offload_req *")
    res = ffi.new("eh_offload_res *")
    buf = ffi.from_buffer(data)
    req.kernel = 1
    setattr(req, "in", int(ffi.cast("uintptr_t", buf)))
    req.in_len = len(data)
    lib.eh_kernel_run_many(req, res, 1000)
    assert res.status == 0 and res.value == crc32c(data, isolation="inproc") == 0xE3069283


def test_crc32c_seed_wider_than_32_bits_is_invalid():
    with pytest.raises(KernelError) as exc:
        call("crc32c", 1, isolation="inproc", data=b"x", args=(1 << 32,))
    assert exc.value.code == -1


# /proc/cpuinfo's name for each doctor name that differs (Linux lists a flag
# only where the CPU has it and the kernel enabled its state).
CPUINFO_NAME = {"sse4.2": "sse4_2"}


def _cpuinfo_flags() -> set[str]:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    if line is None:
        pytest.skip("/proc/cpuinfo has no flags line (not x86?)")
    return set(line.split(":", 1)[1].split())


def test_doctor_lists_every_feature_the_machine_offers():
    """doctor's CPU features are exactly those of the kernels' list that Linux
    reports (CPUID and OS-enabled state): vpclmulqdq and vaes included on a
    CPU that has them without AVX-512."""
    from edgehost import doctor

    flags = _cpuinfo_flags()
    known = [ffi.string(n).decode() for n in map(lib.eh_cpu_feature_name, range(64))
             if n != ffi.NULL]
    offered = [n for n in known if CPUINFO_NAME.get(n, n) in flags]
    assert doctor.cpu_features() == offered


def test_feature_names_are_unique_and_bits_in_range():
    names = [lib.eh_cpu_feature_name(b) for b in range(64)]
    names = [ffi.string(n).decode() for n in names if n != ffi.NULL]
    assert len(names) == len(set(names)) >= 14
