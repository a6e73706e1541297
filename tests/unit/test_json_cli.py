"""``edgehost kernel json-validate|json-minify|json-pointer`` output and exit codes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgehost.cli import cli
from edgehost.errors import InputError
from edgehost.kernels.json import MAX_DEPTH, json_validate


def run(tmp_path, args, content: bytes):
    f = tmp_path / "doc.json"
    f.write_bytes(content)
    return CliRunner().invoke(cli, ["kernel", *args[:1], "--isolation", "inproc", str(f),
                                    *args[1:]])


def test_validate(tmp_path):
    r = run(tmp_path, ["json-validate"], b'{"a": [1, 2]}')
    assert (r.exit_code, r.output) == (0, "valid\n")
    r = run(tmp_path, ["json-validate"], b'{"a": [1, 2,]}')
    assert (r.exit_code, r.output) == (1, "invalid: trailing-comma at byte 12\n")


def test_minify_and_pointer(tmp_path):
    doc = b'{ "a" : [ 1 , { "b" : "x y" } ], "n": 18446744073709551615 }'
    r = run(tmp_path, ["json-minify"], doc)
    assert (r.exit_code, r.output) == (0, '{"a":[1,{"b":"x y"}],"n":18446744073709551615}\n')
    r = run(tmp_path, ["json-pointer", "/a/1/b", "/n", "/a"], doc)
    assert (r.exit_code, r.output) == (0, '"x y"\n18446744073709551615\n[ 1 , { "b" : "x y" } ]\n')
    r = run(tmp_path, ["json-pointer", "/zz"], doc)
    assert r.exit_code == 1 and "no value at '/zz'" in r.output


def one_error_line(r) -> str:
    """The single stderr line of a failed command (and nothing on stdout)."""
    assert r.exit_code != 0 and r.stdout == "", (r.exit_code, r.output)
    assert r.stderr.startswith("edgehost: error: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


@pytest.mark.parametrize("depth", ["-1", "0", "2000000", "18446744073709551616", "x"])
@pytest.mark.parametrize("cmd", ["json-validate", "json-minify", "json-pointer"])
def test_max_depth_out_of_range_is_one_line_naming_the_option(tmp_path, cmd, depth):
    args = [cmd, "--max-depth", depth] + (["/a"] if cmd == "json-pointer" else [])
    r = run(tmp_path, args, b'{"a": 1}')
    line = one_error_line(r)
    assert "--max-depth" in line and "invalid:" not in line


def test_max_depth_range_ends_are_accepted(tmp_path):
    for depth in ("1", str(MAX_DEPTH)):
        r = run(tmp_path, ["json-validate", "--max-depth", depth], b"[]")
        assert (r.exit_code, r.output) == (0, "valid\n")


def test_api_rejects_a_depth_the_kernel_cannot_take():
    for depth in (-1, 0, MAX_DEPTH + 1, 2_000_000, 1.5, None):
        with pytest.raises(InputError, match="max_depth"):
            json_validate(b"[]", max_depth=depth, isolation="inproc")


def test_missing_file_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["kernel", "json-validate", str(tmp_path / "nope.json")])
    assert "json-validate" in one_error_line(r) and r.exit_code == 2
