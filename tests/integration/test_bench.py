"""Every benchmark runs end to end at small sizes and emits rows of the
documented shape with measured (positive, finite) figures. Speed targets are
not asserted here: they live in the benchmarks' own output."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from edgehost.cli import cli

REQUIRED = {"bench", "impl"}
SMALL = {
    "hostcall": ["--repeat", "1"],
    "offload": ["--calls", "300", "--tenant-calls", "3"],
    "stream": ["--sizes-kib", "64", "--rounds", "1", "--reps", "1"],
    "tenant": ["--sizes", "64", "--target-ms", "1", "--rounds", "1"],
    "crc32c": ["--sizes", "4096", "--target-ms", "1", "--no-wasm"],
    "json": ["--inputs", "twitter", "--target-ms", "1", "--no-wasm"],
    "csv": ["--size", "65536", "--target-ms", "1", "--no-wasm"],
    "vector": ["--only", "dot,topk-dot", "--target-ms", "1", "--no-wasm"],
}


def _rows(name: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["bench", name, "--json", *SMALL[name]],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_bench_emits_measured_rows(name):
    rows = _rows(name)
    assert rows
    measured = 0
    for row in rows:
        assert REQUIRED <= row.keys(), row
        assert row["bench"] == name
        for key in ("ns_per_call", "gbps"):
            v = row.get(key)
            if v is not None:
                assert math.isfinite(v) and v > 0, row
                measured += 1
    assert measured >= len(rows) // 2


@pytest.mark.kvm
def test_offload_reports_the_cold_path_and_exit_round_trip():
    ops = {(r["impl"], r["op"]) for r in _rows("offload")}
    for want in (("kvm-warm", "latency"), ("kvm-doorbell", "latency"),
                 ("kvm-warm", "warm_vs_doorbell"), ("kvm-cold", "latency"), ("kvm", "exit_rtt"),
                 ("kvm-cold-caller", "latency"), ("kvm-cold-caller", "cold_run_on_caller"),
                 ("kvm-cold-wake", "latency"), ("kvm-cold-wake", "cold_wake"),
                 ("kvm", "reset_64KiB"),
                 ("kvm-tenant", "tenant_crc32c_64KiB"),
                 ("kvm-tenant-fresh", "tenant_vec_topk_1MiB"),
                 ("inproc-tenant", "tenant_json_validate_64KiB")):
        assert want in ops


def test_deadline_bench_reports_measured_overshoot():
    result = CliRunner().invoke(cli, ["bench", "deadline", "--json", "--deadlines", "10",
                                      "--runs", "2", "--neighbours", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["load"] for r in rows] == ["idle", "1 busy neighbour threads"]
    for r in rows:
        assert r["bench"] == "deadline" and r["tolerance_ms"] == 5
        assert 0 <= r["stopped_median_ms"] <= r["stopped_max_ms"]
        assert math.isfinite(r["returned_max_ms"]) and r["returned_max_ms"] >= 0


@pytest.mark.kvm
def test_tenant_bench_says_which_path_each_kvm_size_takes():
    # a 64 KiB dot product (two 32 KiB halves) is read in place; 4 KiB is copied
    result = CliRunner().invoke(cli, ["bench", "tenant", "--json", "--ops", "dot", "--sizes",
                                      "4096,65536", "--target-ms", "1", "--rounds", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    paths = {r["size"]: r.get("path") for r in json.loads(result.output)
             if r.get("impl") == "offload kvm"}
    assert paths == {4096: "copied", 65536: "in place"}
