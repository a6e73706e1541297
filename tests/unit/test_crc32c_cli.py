"""``edgehost kernel crc32c``: 8 hex digits, several files, stdin, chunked reads."""

from __future__ import annotations

import io
import os

import crc32c as peer
from click.testing import CliRunner

from edgehost.cli import cli
from edgehost.kernels.crc32c import crc32c_stream


def test_one_file_prints_eight_hex_digits(tmp_path):
    f = tmp_path / "check"
    f.write_bytes(b"123456789")
    out = CliRunner().invoke(cli, ["kernel", "crc32c", "--isolation", "inproc", str(f)])
    assert out.exit_code == 0 and out.output == "e3069283\n"


def test_several_files_and_stdin(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"")
    b.write_bytes(b"\xff" * 32)
    out = CliRunner().invoke(cli, ["kernel", "crc32c", "--isolation", "inproc", str(a), str(b),
                                   "-"], input=b"123456789")
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[:2] == [f"00000000  {a}", f"62a8ab43  {b}"]
    assert lines[2].split()[0] == "e3069283"


def test_missing_file_is_one_line_error(tmp_path):
    out = CliRunner().invoke(cli, ["kernel", "crc32c", str(tmp_path / "nope")])
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.startswith("edgehost: error: kernel crc32c: ")
    assert out.stderr.count("\n") == 1 and "No such file" in out.stderr


def test_stream_continues_across_chunks():
    data = os.urandom(100_003)
    assert crc32c_stream(io.BytesIO(data), isolation="inproc", chunk=4096) == peer.crc32c(data)
