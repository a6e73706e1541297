"""bench.docs: the seed's claims read from a run's rows, and the generated
part of docs/benchmarks.md and of the README. Verdicts follow the figures."""

from __future__ import annotations

import json

from edgehost.bench import docs

MACHINE = {"cpu_model": "Test CPU", "family": 25, "model": 1, "features": ["avx2", "vpclmulqdq"],
           "cpus": 2, "kernel": "6.1.0", "kvm": {"usable": True, "nested": True,
                                                  "module": "pvm"}, "when": "2026-01-01T00:00:00"}


def _results(**families):
    return {"schema": "edgehost-bench-all/1", "quick": True, "seconds": 12.0, "machine": MACHINE,
            "pinning": "none", "families": {name: {"status": "ok", "seconds": 1.0, "rows": rows}
                                            for name, rows in families.items()}}


def _stream(ratio):
    rows = []
    for op in ("copy", "scale", "add", "triad"):
        rows.append({"bench": "stream", "impl": "native", "op": op, "size": 1 << 25, "gbps": 20.0})
        for impl in ("kvm 2M pages", "kvm 4K pages"):
            rows.append({"bench": "stream", "impl": impl, "op": op, "size": 1 << 25,
                         "gbps": 20.0 * ratio, "vs_native": ratio})
        rows.append({"bench": "stream", "impl": "wasm simd128", "op": op, "size": 1 << 25,
                     "gbps": 14.0, "vs_native": 0.7})
    return rows


def _verdict(results, cid):
    return next(c for c in docs.claims(results) if c["id"] == cid)


def test_stream_verdict_follows_the_ratio():
    assert _verdict(_results(stream=_stream(1.0)), "stream")["verdict"] == "held"
    low = _verdict(_results(stream=_stream(0.6)), "stream")
    assert low["verdict"] == "not held" and "0.60" in low["measured"]


def _crc(best, table):
    return [{"bench": "crc32c", "impl": "edgehost", "variant": "pclmul", "isolation": "inproc",
             "size": 65536, "gbps": best},
            {"bench": "crc32c", "impl": "edgehost", "variant": "byte", "isolation": "inproc",
             "size": 65536, "gbps": table}]


def test_crc32c_claim_needs_both_speed_and_ratio():
    assert _verdict(_results(crc32c=_crc(40.0, 1.0)), "crc32c")["verdict"] == "held"
    slow = _verdict(_results(crc32c=_crc(28.0, 0.5)), "crc32c")
    assert slow["verdict"] == "partly" and "256-bit" in slow["why"]
    assert "56x the byte table" in slow["measured"]


def test_guest_call_claim_explains_cold_calls_by_the_exit_cost():
    rows = [{"bench": "offload", "impl": "kvm-warm", "op": "latency", "ns_per_call": 900,
             "p50_ns": 900, "p99_ns": 2000},
            {"bench": "offload", "impl": "kvm-cold", "op": "latency", "ns_per_call": 30000,
             "p50_ns": 30000, "p99_ns": 40000},
            {"bench": "offload", "impl": "kvm", "op": "exit_rtt", "ns_per_call": 26000}]
    c = _verdict(_results(offload=rows), "guest_call")
    assert c["verdict"] == "partly" and "26 µs" in c["why"] and "pvm" in c["why"]


def test_missing_family_is_not_measured():
    for c in docs.claims(_results()):
        assert c["verdict"] == "not measured"


def _crossover_rows():
    return [{"bench": "tenant", "impl": "crossover", "op": "crc", "vs": "offload inproc",
             "from_size": 64, "sizes": "64..16777216", "speedup_at_max": 14.0,
             "crossover_bytes": 64},
            {"bench": "tenant", "impl": "crossover", "op": "crc", "vs": "offload kvm",
             "from_size": 65536, "sizes": "64..16777216", "speedup_at_max": 9.0,
             "crossover_bytes": 40000}]


def test_rerender_rewrites_only_between_the_markers(tmp_path):
    page = tmp_path / "docs" / "benchmarks.md"
    (tmp_path / "docs" / "bench" / "test-kind").mkdir(parents=True)
    page.write_text(f"# Bench\n\nmethod text\n\n{docs.BEGIN}\nSTALE\n{docs.END}\n\ntail\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{docs.XBEGIN}\nSTALE\n{docs.XEND}\nmiddle\n"
                      f"{docs.TBEGIN}\nSTALE\n{docs.TEND}\nrest\n")
    res = _results(stream=_stream(1.0), tenant=_crossover_rows())
    res["claims"] = docs.claims(res)
    res["charts"] = {"stream": "stream.png", "tenant": "tenant.png"}
    (tmp_path / "docs" / "bench" / "test-kind" / "results.json").write_text(json.dumps(res))
    assert docs.rerender(page, charts=False) == ["test-kind"]
    text = page.read_text()
    assert text.startswith("# Bench\n\nmethod text\n") and text.endswith("\ntail\n")
    assert "STALE" not in text and "### test-kind" in text
    assert "#### The issues' targets" in text
    assert "![stream](bench/test-kind/stream.png)" in text
    assert "**held**" in text and "Test CPU" in text
    assert "from ~39.1 KiB; 9.0x at 16 MiB" in text
    rt = readme.read_text()
    assert rt.startswith("intro\n") and rt.endswith("rest\n") and "39.1 KiB" in rt
    assert "STALE" not in rt and "\nmiddle\n" in rt
    assert "- **test-kind**: Test CPU" in rt and "| what | target | test-kind |" in rt


def test_rerender_refuses_a_page_without_markers(tmp_path):
    import pytest

    from edgehost.errors import InputError

    page = tmp_path / "benchmarks.md"
    page.write_text("# no markers\n")
    with pytest.raises(InputError):
        docs.rerender(page, charts=False)


def test_a_guest_far_above_native_is_noise_not_a_result():
    c = _verdict(_results(stream=_stream(1.6)), "stream")
    assert c["verdict"] == "noisy" and "quiet machine" in c["why"]
