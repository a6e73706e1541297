"""A benchmark run without a peer package prints a row saying which package
to install, never a traceback."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from edgehost.cli import cli

CASES = {
    "crc32c": (["--sizes", "4096", "--target-ms", "1", "--no-wasm"],
               {"crc32c": "pip install crc32c", "google_crc32c": "pip install google-crc32c"}),
    "json": (["--inputs", "twitter", "--target-ms", "1", "--no-wasm"],
             {"orjson": "pip install orjson", "simdjson": "pip install pysimdjson"}),
    "csv": (["--size", "65536", "--target-ms", "1", "--no-wasm"],
            {"pyarrow": "pip install pyarrow", "polars": "pip install polars",
             "csvmonkey": "pip install csvmonkey"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_missing_peer_is_a_row(name, monkeypatch):
    args, missing = CASES[name]
    for mod in missing:
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    out = CliRunner().invoke(cli, ["bench", name, "--json", *args], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    notes = {r.get("note") for r in json.loads(out.output)}
    for hint in missing.values():
        assert hint in notes, (hint, notes)
