"""bench all: discovery, options, one family's failure isolated, the JSON
and charts it writes (at tiny sizes; no timing is asserted)."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from edgehost.bench import all as bench_all
from edgehost.cli import cli


def test_every_bench_command_is_a_family_but_all():
    fams = bench_all.families()
    assert "all" not in fams
    for name in ("stream", "crc32c", "csv", "json", "vector", "hostcall", "offload", "tenant"):
        assert name in fams
    assert list(fams)[:2] == ["stream", "crc32c"]


def test_family_args_pass_only_declared_options():
    @click.command("crc32c")
    @click.option("--sizes")
    def plain(sizes):
        pass

    @click.command("crc32c")
    @click.option("--quick", is_flag=True)
    def has_quick(quick):
        pass

    assert bench_all.family_args("crc32c", plain, quick=True) == \
        ["--sizes", bench_all.QUICK["crc32c"]["--sizes"]]
    assert bench_all.family_args("crc32c", has_quick, quick=True) == ["--quick"]
    assert bench_all.family_args("crc32c", has_quick, quick=False) == []
    assert bench_all.family_args("newfamily", plain, quick=True) == []


def test_a_failing_family_is_reported_in_its_place():
    fam = bench_all.run_family("no-such-family", [], 60, None)
    assert fam["status"] == "failed" and fam["rows"] == []
    assert "no-such-family" in fam["error"] or "No such command" in fam["error"]


def test_one_family_end_to_end_writes_json_and_a_chart(tmp_path):
    out_json, plots = tmp_path / "r.json", tmp_path / "charts"
    res = CliRunner().invoke(cli, ["bench", "all", "--quick", "--only", "hostcall",
                                   "--json", str(out_json), "--plot", str(plots)])
    assert res.exit_code == 0, res.output
    assert "== hostcall (ok" in res.output and "the seed's claims" in res.output
    # hostcall's own figure is read back; the families this run left out are not judged
    assert "the issues' targets" in res.output and "not in this run (serve)" in res.output
    assert "WASM -> host call (close to a C call)" in res.output
    data = json.loads(out_json.read_text())
    assert data["schema"] == bench_all.SCHEMA and data["quick"] is True
    assert {"cpu_model", "features", "kernel", "kvm", "kind"} <= data["machine"].keys()
    assert "nested" in data["machine"]["kvm"]
    fam = data["families"]["hostcall"]
    assert fam["status"] == "ok" and fam["rows"] and fam["args"] == ["--repeat", "3"]
    assert {c["id"] for c in data["claims"]} == {"stream", "crc32c", "csv", "json", "guest_call"}
    assert data["charts"]["hostcall"] == "hostcall.png"
    assert (plots / "hostcall.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_selections_are_one_line_errors(tmp_path):
    res = CliRunner().invoke(cli, ["bench", "all", "--only", "nosuch"])
    assert res.exit_code != 0
    assert "unknown benchmark family 'nosuch'" in res.output
    res = CliRunner().invoke(cli, ["bench", "all", "--render-only"])
    assert res.exit_code != 0 and "--render-only needs --docs" in res.output
