"""bench tenant: the tenant's own WASM code vs offloading, at tiny sizes.
Checks the answers and the crossover arithmetic, never a timing."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from edgehost.bench import tenant as tb
from edgehost.bench import tenant_inputs as ti
from edgehost.cli import cli


def test_inputs_hold_whole_records_within_the_size():
    rng = random.Random(1)
    for size in (64, 1000, 5000):
        body = ti.csv_body(size, rng)
        assert len(body) <= size and body.endswith(b"\n")
        doc, count = ti.json_body(size, rng)
        assert len(doc) <= max(size, 40) and json.loads(doc)["meta"]["count"] == count
    assert ti.topk_shape(64) == (8, 1, 1)
    assert ti.topk_shape(1 << 20) == (128, 2047, 10)


def _rows(local, offload, sizes=(64, 4096, 65536)):
    rows = []
    for s, lt, ot in zip(sizes, local, offload, strict=True):
        rows.append({"bench": "tenant", "impl": "wasm scalar", "op": "crc", "size": s,
                     "ns_per_op": lt})
        rows.append({"bench": "tenant", "impl": "wasm simd128", "op": "crc", "size": s,
                     "ns_per_op": lt * 2})
        rows.append({"bench": "tenant", "impl": "offload kvm", "op": "crc", "size": s,
                     "ns_per_op": ot})
    return rows


def test_crossover_is_interpolated_between_the_sizes_around_it():
    (row,) = tb.crossovers(_rows([10, 80, 6400], [100, 100, 200]))
    assert row["vs"] == "offload kvm" and row["from_size"] == 65536
    assert 4096 < row["crossover_bytes"] < 65536
    assert row["speedup_at_max"] == 32.0


def test_crossover_never_and_always():
    (never,) = tb.crossovers(_rows([1, 2, 3], [10, 10, 10]))
    assert never["crossover_bytes"] is None and "own code faster" in never["note"]
    (always,) = tb.crossovers(_rows([100, 200, 300], [1, 1, 1]))
    assert always["crossover_bytes"] == 64 and "smallest size" in always["note"]
    # faster at one size, slower again above it: not a crossover from there
    (dip,) = tb.crossovers(_rows([10, 400, 6400], [100, 100, 9000]))
    assert dip["crossover_bytes"] is None


@pytest.fixture(scope="module")
def inproc_tenant(c_toolchain):
    t = tb.make_tenant("scalar", "inproc")
    yield t
    t.close()


def test_a_wrong_answer_is_reported_not_timed(inproc_tenant):
    case = ti.Case("crc", b"x" * 64, "", lambda r: "deliberately wrong", target=64)
    tenants = {"wasm scalar": inproc_tenant, "wasm simd128": "skipped",
               "offload inproc": inproc_tenant, "offload kvm": "skipped"}
    rows = tb.measure_case(tenants, case, 0.001, 1, 1)
    for r in rows:
        assert r["ns_per_op"] is None
    assert {r["note"] for r in rows if r["impl"] in ("wasm scalar", "offload inproc")} == \
        {"wrong answer: deliberately wrong"}


def test_every_operation_answers_right_both_ways(c_toolchain):
    out = CliRunner().invoke(cli, ["bench", "tenant", "--json", "--sizes", "64,4096",
                                   "--target-ms", "1", "--rounds", "1", "--no-kvm"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    measured = [r for r in rows if r["impl"] in ("wasm scalar", "wasm simd128", "offload inproc")]
    assert len(measured) == 5 * 2 * 3
    for r in measured:
        assert r["ns_per_op"] and r["ns_per_op"] > 0, r
        assert r["request_ns"] > 0 and r["runs_per_request"] >= 1
    assert all("KVM" not in (r.get("note") or "") for r in measured)
    kvm = [r for r in rows if r["impl"] == "offload kvm"]
    assert kvm and all(r["ns_per_op"] is None and "--no-kvm" in r["note"] for r in kvm)
    cross = [r for r in rows if r["impl"] == "crossover"]
    assert {r["op"] for r in cross} == set(tb.OPS)


def test_bad_options_are_one_line_errors():
    out = CliRunner().invoke(cli, ["bench", "tenant", "--ops", "nope"])
    assert out.exit_code != 0 and "unknown operation 'nope'" in out.output
    out = CliRunner().invoke(cli, ["bench", "tenant", "--sizes", "8"])
    assert out.exit_code != 0 and "16 bytes" in out.output


def test_path_lines_name_each_kvm_size_and_its_path():
    rows = [{"op": "dot", "impl": "offload kvm", "size": 65536, "path": "in place"},
            {"op": "dot", "impl": "offload kvm", "size": 4096, "path": "copied"},
            {"op": "dot", "impl": "offload inproc", "size": 4096}]
    assert tb.path_lines(rows).splitlines()[1].split() == \
        ["dot", "4", "KiB", "copied,", "64", "KiB", "in", "place"]
    assert tb.path_lines(rows[2:]) == ""
