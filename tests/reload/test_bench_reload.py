"""``edgehost bench reload`` measures what it says (no timing bounds here:
the targets are the bench's to report)."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from edgehost.cli.main import cli
from edgehost.isolation import kvm_usable


def _rows(*args) -> list[dict]:
    res = CliRunner().invoke(cli, ["bench", "reload", "--json", "--quick", *args],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output[res.output.index("["):])


def test_latency_rows_are_measured_and_no_request_failed():
    rows = {r["case"]: r for r in _rows("--only", "latency")}
    for case in ("changed module, compiled", "changed module, from the compiled cache",
                 "[config]-only change"):
        r = rows[case]
        assert math.isfinite(r["value"]) and r["value"] > 0 and r["target"] > 0, r
        assert r["rounds"] == 3
    failed = rows["failed requests during the reloads"]
    assert failed["value"] == 0 and failed["requests"] > 0, failed
    kvm = rows["[config]-only change, isolation kvm"]
    if kvm_usable():   # the new versions kept the live version's guest
        assert math.isfinite(kvm["value"]) and kvm["rounds"] == 3, kvm
        assert kvm["note"].endswith("guests booted in 3 reloads: 0"), kvm
    else:
        assert kvm["note"].startswith("left out: "), kvm


def test_snapshot_rows_compare_the_two_starts():
    rows = _rows("--only", "snapshot")
    configured, snap = rows
    assert "configured" in configured["case"] and "snapshot" in snap["case"]
    assert snap["note"] == "same answer as configured"
    assert 0 < snap["value"] and 0 < configured["value"]
