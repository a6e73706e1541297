"""A bad benchmark option is one usage line and exit 2, never a traceback
(each was a traceback or a silent empty run before)."""

import subprocess
import sys

import pytest

BAD = [
    ("crc32c", "--sizes", "abc"), ("crc32c", "--sizes", "0"), ("crc32c", "--target-ms", "-1"),
    ("csv", "--size", "0"), ("json", "--inputs", "nosuch"), ("vector", "--only", "nosuch"),
    ("deadline", "--deadlines", "x"), ("deadline", "--runs", "0"), ("hostcall", "--repeat", "0"),
    ("kv", "--repeat", "0"), ("offload", "--calls", "0"), ("reload", "--rounds", "0"),
    ("stream", "--rounds", "0"), ("tenant", "--rounds", "0"), ("serve", "--workers", "0"),
    ("serve", "--workers", "a"),
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_a_bad_option_is_one_usage_line(args):
    r = subprocess.run([sys.executable, "-m", "edgehost", "bench", *args], capture_output=True,
                       text=True, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("edgehost: error: "), r.stderr
    assert args[1] in lines[0]
