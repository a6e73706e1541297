"""`edgehost bench serve` runs end to end at a small size and emits measured
rows (speed targets live in its own output, never in tests)."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from click.testing import CliRunner

from edgehost.cli import cli

pytestmark = [pytest.mark.toolchain, pytest.mark.slow]  # ~40 s of wrk runs


def test_bench_serve_emits_measured_rows(c_toolchain):
    if not shutil.which("wrk"):
        pytest.skip("wrk missing (Debian wrk; tests/system-packages.txt)")
    result = CliRunner().invoke(cli, ["bench", "serve", "--json", "--seconds", "1",
                                      "--rounds", "1", "--workers", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("["):])
    impls = {r["impl"] for r in rows}
    assert {"nginx-static", "hello-c", "hello-c@80%"} <= impls
    for r in rows:
        assert r["bench"] == "serve" and r["workers"] == 1
        assert math.isfinite(r["rps"]) and r["rps"] > 0, r
        assert r["p99_ms"] > 0 and r["errors"] == 0, r
    hello = next(r for r in rows if r["impl"] == "hello-c")
    assert hello["vs_nginx"] > 0 and hello["cpu_us"] > 0


def test_bench_serve_abuse_emits_measured_rows(c_toolchain):
    if not shutil.which("wrk"):
        pytest.skip("wrk missing (Debian wrk; tests/system-packages.txt)")
    result = CliRunner().invoke(cli, ["bench", "serve-abuse", "--json", "--quick"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("["):])
    impls = {r["impl"] for r in rows}
    assert {"quiet", "infinite-loop", "memory-bomb", "trap-storm", "oversized-bodies",
            "slow-clients"} <= impls
    for r in rows:
        assert r["rps"] > 0 and r["p99_ms"] > 0 and r["p99_vs_quiet"] > 0, r
