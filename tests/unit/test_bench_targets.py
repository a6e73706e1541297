"""bench.targets: the issues' targets read from a run's rows. Verdicts
follow the figures; every stored full run has a figure for every target."""

from __future__ import annotations

import json

import pytest

from edgehost.bench import targets
from tests.support import REPO


def _results(**families):
    return {"quick": False, "machine": {"cpu_model": "Test CPU"},
            "families": {name.replace("_", "-"): {"status": "ok", "rows": rows}
                         for name, rows in families.items()}}


def _by_id(results) -> dict[str, dict]:
    return {t["id"]: t for t in targets.evaluate(results)}


def _offload(p50_ns, floor_ns, p99_ns=1500):
    return [{"impl": "kvm-doorbell", "op": "latency", "p50_ns": floor_ns},
            {"impl": "kvm-warm", "op": "warm_vs_doorbell", "ratio": p50_ns / floor_ns,
             "p50_ns": p50_ns, "p99_ns": p99_ns}]


def test_warm_call_needs_every_bound():
    assert _by_id(_results(offload=_offload(900, 800)))["warm_call"]["met"] is True
    over_floor = _by_id(_results(offload=_offload(900, 300)))["warm_call"]
    assert over_floor["met"] is False and "3.00x" in over_floor["measured"]
    assert _by_id(_results(offload=_offload(900, 800, p99_ns=6000)))["warm_call"]["met"] is False


def _serve(etag_ratios):
    rows = []
    for workers, ratio in etag_ratios.items():
        rows += [{"workers": workers, "impl": "nginx-static", "rps": 100e3, "vs_nginx": 1.0},
                 {"workers": workers, "impl": "hello-c", "rps": 60e3, "vs_nginx": 0.6},
                 {"workers": workers, "impl": "etag-kvm", "rps": 10e3, "kvm_vs_inproc": ratio}]
    return rows


def test_every_worker_count_must_meet_a_serving_target():
    t = _by_id(_results(serve=_serve({1: 0.85, 2: 0.81})))
    assert t["serve_etag"]["met"] is True and t["serve_hello"]["met"] is True
    t = _by_id(_results(serve=_serve({1: 0.85, 2: 0.41})))
    assert t["serve_etag"]["met"] is False and t["serve_etag"]["measured"] == "0.85x / 0.41x"


def test_a_guest_above_native_is_noise_not_a_verdict():
    rows = [{"impl": impl, "op": op, "size": 1 << 25, "vs_native": ratio}
            for op, ratio in (("copy", 1.0), ("triad", 1.4)) for impl in ("kvm 2M pages",)]
    t = _by_id(_results(stream=rows))["stream"]
    assert t["met"] is None and "noisy" in t["measured"]


def test_a_family_missing_from_the_run_is_not_judged():
    for t in targets.evaluate(_results()):
        assert t["met"] is None and t["measured"].startswith("not in this run"), t


def test_table_has_a_column_per_machine_kind_and_escapes_pipes():
    runs = {"kind-a": _results(serve=_serve({1: 0.9})), "kind-b": _results()}
    text = targets.table(runs)
    header, rule, *rows = text.splitlines()
    assert header == "| what | target | kind-a | kind-b |"
    assert len(rows) == len(targets.TARGETS)
    assert all(r.count(" | ") == 3 for r in rows)   # no cell's own "|" splits it
    etag = next(r for r in rows if r.startswith("| etag-c"))
    assert "0.90x (met)" in etag and "not in this run (serve) (not judged)" in etag


STORED = sorted((REPO / "docs" / "bench").glob("*/results.json"))


@pytest.mark.parametrize("path", STORED, ids=[p.parent.name for p in STORED])
def test_a_stored_full_run_has_a_figure_for_every_target(path):
    results = json.loads(path.read_text())
    if results.get("quick"):
        pytest.skip("a quick run leaves sizes out")
    for t in targets.evaluate(results):
        assert not t["measured"].startswith("not in this run"), t


def test_the_committed_readme_and_page_match_the_stored_runs(tmp_path):
    """README's targets and crossover blocks and the page's results are what
    ``bench all --docs docs/benchmarks.md --render-only`` writes from the
    stored runs: nobody edited a figure by hand, nobody forgot to render."""
    import shutil

    from edgehost.bench import docs

    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copy(REPO / "docs" / "benchmarks.md", tmp_path / "docs" / "benchmarks.md")
    for path in STORED:
        dest = tmp_path / "docs" / "bench" / path.parent.name
        dest.mkdir(parents=True)
        shutil.copy(path, dest / "results.json")
    docs.rerender(tmp_path / "docs" / "benchmarks.md", charts=False)
    assert (tmp_path / "README.md").read_text() == (REPO / "README.md").read_text()
    assert (tmp_path / "docs" / "benchmarks.md").read_text() == \
        (REPO / "docs" / "benchmarks.md").read_text()


def test_a_p99_measured_far_from_80_percent_is_not_judged():
    def rows(share):
        return [{"workers": 1, "impl": "hello-c", "rps": 50e3, "vs_nginx": 0.6},
                {"workers": 1, "impl": "hello-c@80%", "rps": 50e3 * share, "p99_ms": 1.0}]
    assert _by_id(_results(serve=rows(0.82)))["serve_p99"]["met"] is True
    far = _by_id(_results(serve=rows(0.62)))["serve_p99"]
    assert far["met"] is None and "62% (not ~80 %)" in far["measured"]
