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


def one_error_line(r) -> str:
    """The single stderr line of a failed command (and nothing on stdout)."""
    assert r.exit_code != 0 and r.stdout == "", (r.exit_code, r.output)
    assert r.stderr.startswith("edgehost: error: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


@pytest.mark.parametrize("alpha", ["1e39", "-3.5e38", "nonsense"])
def test_axpy_alpha_outside_float32_is_one_line_naming_the_option(files, alpha):
    line = one_error_line(run("vec-axpy", "--alpha", alpha, files["a"], files["b"]))
    assert "--alpha" in line


def test_axpy_alpha_is_checked_against_the_dtype_given_after_it(files, tmp_path):
    x = tmp_path / "x64"
    x.write_bytes(struct.pack("<2d", 1.0, 2.0))
    r = run("vec-axpy", "--alpha", "1e39", str(x), str(x), "--dtype", "float64")
    assert (r.exit_code, r.output) == (0, "1e+39\n2e+39\n")
    r = run("vec-axpy", "--alpha", "inf", files["a"], files["b"])
    assert r.exit_code == 0 and r.output.splitlines()[0] == "inf"


@pytest.mark.parametrize("k", ["18446744073709551616", "4294967296", "-1", "two"])
def test_topk_k_out_of_range_is_one_line_naming_the_option(files, k):
    line = one_error_line(run("vec-topk", "-k", k, files["m"], files["q"]))
    assert "'-k'" in line


def test_topk_api_takes_any_k_and_rejects_bad_ones(files):
    from edgehost.errors import InputError
    from edgehost.kernels import vec_topk

    m = open(files["m"], "rb").read()
    q = open(files["q"], "rb").read()
    assert len(vec_topk(m, q, 1 << 70, isolation="inproc")) == 3
    for k in (-1, 1.5, "3"):
        with pytest.raises(InputError, match="k must be"):
            vec_topk(m, q, k, isolation="inproc")


def test_axpy_api_alpha_outside_float32_is_an_input_error(files):
    from edgehost.errors import InputError
    from edgehost.kernels import vec_axpy

    with pytest.raises(InputError, match="alpha 1e"):
        vec_axpy(1e39, b"\0" * 8, b"\0" * 8, isolation="inproc")


@pytest.mark.parametrize("cmd", ["vec-dot", "vec-topk", "vec-axpy"])
def test_missing_file_is_one_line(files, cmd, tmp_path):
    extra = ["--alpha", "2"] if cmd == "vec-axpy" else []
    line = one_error_line(run(cmd, *extra, str(tmp_path / "nope"), files["a"]))
    assert cmd in line and "No such file" in line
