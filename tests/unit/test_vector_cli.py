"""``edgehost kernel vec-*``: float32 little-endian files in, one clear line per result."""

from __future__ import annotations

import struct

import pytest
from click.testing import CliRunner

from edgehost.cli import cli


@pytest.fixture
def files(tmp_path):
    def write(name, *xs):
        p = tmp_path / name
        p.write_bytes(struct.pack(f"<{len(xs)}f", *xs))
        return str(p)

    return {
        "a": write("a", 1, 2, 3, 4),
        "b": write("b", 0.5, 0.5, 0.5, 0.5),
        "m": write("m", 1, 2, 3, 4, 5, 6),  # 3 rows x 2 cols against q
        "q": write("q", 1, 1),
        "odd": str((tmp_path / "odd").write_bytes(b"\0" * 5) and tmp_path / "odd"),
    }


def run(*args):
    return CliRunner().invoke(cli, ["kernel", *args, "--isolation", "inproc"])


@pytest.mark.parametrize(("cmd", "args", "want"), [
    ("vec-dot", ("a", "b"), "5.0\n"),
    ("vec-sum", ("a",), "10.0\n"),
    ("vec-l2norm", ("q",), "1.4142135\n"),
    ("vec-l2sq", ("a", "b"), "21.0\n"),
    ("vec-cosine", ("q", "q"), "1.0\n"),
    ("vec-matvec", ("m", "q"), "3.0\n7.0\n11.0\n"),
    ("vec-topk", ("m", "q"), "0\t1.0\n1\t13.0\n2\t41.0\n"),
])
def test_commands(files, cmd, args, want):
    out = run(cmd, *(files[a] for a in args))
    assert out.exit_code == 0, out.output
    assert out.output == want


def test_axpy_to_file(files, tmp_path):
    dest = tmp_path / "out"
    out = run("vec-axpy", "--alpha", "2", "-o", str(dest), files["a"], files["b"])
    assert out.exit_code == 0
    assert struct.unpack("<4f", dest.read_bytes()) == (2.5, 4.5, 6.5, 8.5)


def test_topk_metric_and_k(files):
    out = run("vec-topk", "-k", "1", "--metric", "dot", files["m"], files["q"])
    assert out.output == "2\t11.0\n"


def test_length_mismatch_is_one_line_error(files):
    out = run("vec-dot", files["a"], files["q"])
    assert out.exit_code == 1
    assert "length mismatch" in out.output and "Traceback" not in out.output


def test_partial_float_file_is_one_line_error(files):
    out = run("vec-sum", files["odd"])
    assert out.exit_code == 1 and "float32" in out.output
