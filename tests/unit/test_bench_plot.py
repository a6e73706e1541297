"""bench.plot: one PNG per family, known or not (no figure is checked)."""

from __future__ import annotations

import pytest

from edgehost.bench import plot

pytest.importorskip("matplotlib", reason="matplotlib missing: pip install 'edgehost[bench]'")

PNG = b"\x89PNG\r\n\x1a\n"


def _rows():
    crc = [{"bench": "crc32c", "impl": impl, "variant": v, "isolation": iso, "size": s,
            "gbps": g * s / (s + 1000)}
           for s in (64, 4096, 1 << 20)
           for impl, v, iso, g in (("edgehost", "pclmul", "inproc", 30.0),
                                   ("edgehost", "byte", "inproc", 0.4),
                                   ("edgehost", "pclmul", "kvm", 20.0),
                                   ("edgehost", "slice16", "wasm/simd128", 1.5),
                                   ("crc32c (PyPI)", "hw", "inproc", 20.0))]
    tenant = [{"bench": "tenant", "impl": impl, "op": op, "target": s, "size": s,
               "ns_per_op": base + s / speed}
              for op in ("crc", "dot") for s in (64, 4096, 262144)
              for impl, base, speed in (("wasm scalar", 10, 1.0), ("wasm simd128", 10, 2.0),
                                        ("offload inproc", 50, 20.0), ("offload kvm", 900, 20.0))]
    tenant.append({"bench": "tenant", "impl": "crossover", "op": "crc", "vs": "offload kvm",
                   "from_size": 4096, "sizes": "64..262144", "speedup_at_max": 10.0,
                   "crossover_bytes": 1000})
    stream = [{"bench": "stream", "impl": impl, "op": op, "size": size, "gbps": g}
              for size in (131072, 1 << 25) for op in ("copy", "triad")
              for impl, g in (("native", 20.0), ("kvm 2M pages", 19.5), ("wasm scalar", 12.0))]
    serve = [{"bench": "serve", "impl": "hello-c", "requests_per_s": 30000.0},
             {"bench": "serve", "impl": "nginx", "requests_per_s": 45000.0}]
    return {"crc32c": crc, "tenant": tenant, "stream": stream, "serve": serve}


def test_every_family_gets_a_titled_png(tmp_path):
    results = {"quick": True, "machine": {"cpu_model": "Test CPU", "kernel": "6.1",
                                          "when": "now", "kvm": {}},
               "families": {name: {"status": "ok", "seconds": 1.0, "rows": rows}
                            for name, rows in _rows().items()}}
    results["families"]["broken"] = {"status": "failed", "seconds": 0.1, "rows": [],
                                     "error": "edgehost: error: boom"}
    out = plot.plot_all(results, tmp_path)
    for name in _rows():
        path = tmp_path / f"{name}.png"
        assert out[name] == str(path)
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000
    assert out["broken"].startswith("no chart") and not (tmp_path / "broken.png").exists()


def test_categories_keep_peers_apart():
    assert plot.category({"impl": "numpy"}) == "peer"
    assert plot.category({"impl": "crc32c (PyPI)", "isolation": "inproc"}) == "peer"
    assert plot.category({"impl": "edgehost", "variant": "avx2", "isolation": "inproc"}) == \
        "inproc"
    assert plot.category({"impl": "edgehost", "variant": "byte", "isolation": "inproc"}) == \
        "baseline"
    assert plot.category({"impl": "edgehost", "isolation": "kvm-kernel"}) == "guest"
    assert plot.category({"impl": "offload kvm"}) == "guest"
    assert plot.category({"impl": "wasm simd128"}) == "wasm"
