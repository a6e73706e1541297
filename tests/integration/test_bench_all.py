"""``edgehost bench all --quick`` over every family, as the README runs it:
each family ok, the JSON's documented fields, a PNG per family. No figure is
asserted (speed targets live in the benchmarks' own output)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_quick_run_of_every_family(tmp_path):
    out_json, plots = tmp_path / "results.json", tmp_path / "charts"
    proc = subprocess.run([sys.executable, "-m", "edgehost", "bench", "all", "--quick",
                           "--json", str(out_json), "--plot", str(plots)],
                          capture_output=True, text=True, timeout=900)
    assert "Traceback" not in proc.stdout + proc.stderr
    data = json.loads(out_json.read_text())
    for key in ("schema", "quick", "seconds", "machine", "pinning", "families", "claims",
                "charts"):
        assert key in data, key
    from edgehost.bench.all import families

    assert set(data["families"]) == set(families())
    failed = []
    for name, fam in data["families"].items():
        # A family that fails is reported in its place with its reason (its
        # owner's bug or a loaded machine); the harness itself must not fail.
        if fam["status"] != "ok":
            assert fam["status"] in ("failed", "timeout") and fam["error"], (name, fam)
            failed.append(name)
            continue
        assert fam["rows"] and all(r["bench"] == name for r in fam["rows"]), name
        assert (plots / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    assert not {"stream", "tenant"} & set(failed), data["families"]
    assert (proc.returncode != 0) == bool(failed), proc.stderr[-2000:]
    if failed:
        assert f"failed: {', '.join(failed)}" in proc.stderr
    for c in data["claims"]:
        assert c["verdict"] in ("held", "partly", "not held", "noisy", "not measured")
