"""``edgehost kernel csv``: rows as JSON arrays, dialect options, errors."""

from __future__ import annotations

from click.testing import CliRunner

from edgehost.cli import cli


def run(tmp_path, content: bytes, *opts):
    f = tmp_path / "t.csv"
    f.write_bytes(content)
    return CliRunner().invoke(cli, ["kernel", "csv", "--isolation", "inproc", *opts, str(f)])


def test_rows(tmp_path):
    r = run(tmp_path, b'a,"b,c"\r\n"d""e",f\n\ng\n')
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ['["a", "b,c"]', '["d\\"e", "f"]', "[]", '["g"]']
    assert "note: 1 ragged row(s) (0-based): 3" in r.stderr


def test_dialect_and_strict(tmp_path):
    r = run(tmp_path, b"x;'y;z'\n", "--delimiter", ";", "--quote", "'")
    assert (r.exit_code, r.stdout) == (0, '["x", "y;z"]\n')
    r = run(tmp_path, b'ab"c,d\n', "--strict")
    assert r.exit_code == 1 and "quote-in-unquoted-field at byte 2" in r.output
