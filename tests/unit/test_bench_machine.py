"""bench.machine: the record stored with every ``bench all`` result."""

from __future__ import annotations

import os
import re

from edgehost.bench import machine


def test_record_has_the_documented_fields():
    rec = machine.record()
    for key in ("cpu_model", "vendor", "family", "model", "features", "kernel_features",
                "cpus", "kernel", "os", "python", "wasmtime", "kvm", "loadavg", "when", "kind"):
        assert key in rec, key
    assert rec["kernel"] == os.uname().release
    assert set(rec["features"]) <= set(machine.ISA_FLAGS)
    for key in ("device", "usable", "nested", "under_hypervisor", "module"):
        assert key in rec["kvm"], key
    assert isinstance(rec["kvm"]["nested"], bool)


def test_kind_names_vendor_model_and_widest_isa():
    base = {"vendor": "AuthenticAMD", "family": 25, "model": 1}
    assert machine.kind({**base, "features": ["avx2", "vpclmulqdq"]}) == "amd-f25m1-avx2"
    assert machine.kind({**base, "features": ["avx2", "avx512f"]}) == "amd-f25m1-avx512"
    intel = {"vendor": "GenuineIntel", "family": 6, "model": 143, "features": ["sse4_2"]}
    assert machine.kind(intel) == "intel-f6m143-sse42"
    assert re.fullmatch(r"[a-z0-9.-]+", machine.kind(machine.record()))


def test_summary_says_cpu_kernel_and_kvm():
    rec = machine.record()
    line = machine.summary(rec)
    assert rec["kernel"] in line and ("KVM" in line)


def test_pinned_thread_pins_one_cpu_and_restores():
    before = os.sched_getaffinity(0)
    with machine.pinned_thread() as cpu:
        now = os.sched_getaffinity(0)
        if len(before) >= 2:
            assert now == {cpu} and cpu in before
        else:
            assert cpu is None and now == before
    assert os.sched_getaffinity(0) == before
    with machine.pinned_thread(enabled=False) as cpu:
        assert cpu is None and os.sched_getaffinity(0) == before


def test_steal_share_is_the_stolen_part_of_the_ticks_between_two_readings():
    first = machine.cpu_ticks()
    assert first is not None and 0 <= first[0] <= first[1]   # Linux has /proc/stat
    assert machine.steal_share((100, 1000), (130, 1300)) == 0.1
    assert machine.steal_share((100, 1000), (100, 1000)) is None   # no time passed
    assert machine.steal_share(None, first) is None
    share = machine.steal_share(first, machine.cpu_ticks())
    assert share is None or 0.0 <= share <= 1.0
