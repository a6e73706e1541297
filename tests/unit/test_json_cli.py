"""``edgehost kernel json-validate|json-minify|json-pointer`` output and exit codes."""

from __future__ import annotations

from click.testing import CliRunner

from edgehost.cli import cli


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
