"""``edgehost bench kv`` runs end to end and emits measured rows for every
backend (figures are checked for sanity only: speed targets live in the
benchmark's output, never in tests)."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from edgehost.cli import cli
from edgehost.state.localredis import redis_server_path


def test_bench_kv_emits_measured_rows():
    result = CliRunner().invoke(cli, ["bench", "kv", "--json", "--quick"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    ops = {(r["impl"].split(" (")[0], r["op"]) for r in rows if "ns_per_call" in r}
    want = {("edgehost lmdb", "kv_get 16B"), ("edgehost lmdb", "kv_put 16B"),
            ("edgehost memory", "kv_get 16B")}
    if redis_server_path():
        want |= {("edgehost redis", "kv_get 16B"), ("edgehost redis", "kv_put 16B"),
                 ("redis-py", "GET 16B"), ("redis-py", "SET 16B")}
    assert want <= ops, ops
    for r in rows:
        if "ns_per_call" in r:
            assert math.isfinite(r["ns_per_call"]) and r["ns_per_call"] > 0, r
    targets = [r for r in rows if "target" in r]
    assert {r["op"] for r in targets} == {"kv_get 16B", "kv_put 16B"}
    assert all(isinstance(r["meets"], bool) for r in targets)
