"""float32 vector kernels: Python API (``host.kernels.vec_dot`` ...) and the
``edgehost kernel vec-*`` commands, which read float32 little-endian files.

Conventions (shapes, results, errors) are those of kernels/vector/vector.h;
arguments may be bytes-like, ``array('f')`` or float32 ndarrays.
"""

from __future__ import annotations

import array
import struct

import click

from host.errors import KernelError
from host.kernels._common import call, f32_bits, f32_buffer, f32_from_bits, f32_str, nbytes

KERNEL_IDS = {
    "dot": 7, "axpy": 8, "sum": 9, "l2norm": 10,
    "l2sq": 11, "cosine": 12, "matvec": 13, "topk": 14,
}
METRICS = {"l2sq": 0, "dot": 1, "cosine": 2}


def _same_length(op: str, a, b) -> None:
    if nbytes(a) != nbytes(b):
        raise KernelError(f"vec_{op}", -1, f"length mismatch: {nbytes(a) // 4} vs "
                          f"{nbytes(b) // 4} floats")


def _scalar(op: str, a, b=None, isolation: str | None = None) -> float:
    a = f32_buffer(a, "a")
    data2 = f32_buffer(b, "b") if b is not None else b""
    if b is not None:
        _same_length(op, a, data2)
    res, _ = call(f"vec_{op}", KERNEL_IDS[op], isolation=isolation, data=a, data2=data2)
    return f32_from_bits(res.value)


def vec_dot(a, b, *, isolation: str | None = None) -> float:
    """sum(a[i] * b[i]) in float32; equal lengths required."""
    return _scalar("dot", a, b, isolation)


def vec_sum(a, *, isolation: str | None = None) -> float:
    return _scalar("sum", a, None, isolation)


def vec_l2norm(a, *, isolation: str | None = None) -> float:
    return _scalar("l2norm", a, None, isolation)


def vec_l2sq(a, b, *, isolation: str | None = None) -> float:
    """Squared Euclidean distance."""
    return _scalar("l2sq", a, b, isolation)


def vec_cosine(a, b, *, isolation: str | None = None) -> float:
    """Cosine similarity (NaN when either vector is all zeros)."""
    return _scalar("cosine", a, b, isolation)


def vec_axpy(alpha: float, x, y, *, isolation: str | None = None) -> array.array:
    """alpha * x + y as a new ``array('f')``."""
    xb, yb = f32_buffer(x, "x"), f32_buffer(y, "y")
    _same_length("axpy", xb, yb)
    _, out = call("vec_axpy", KERNEL_IDS["axpy"], isolation=isolation, data=xb, data2=yb,
                  out_cap=nbytes(xb), args=(f32_bits(alpha),))
    return array.array("f", out)


def vec_matvec(matrix, vector, *, isolation: str | None = None) -> array.array:
    """M v for a row-major M whose row length is len(v)."""
    mb, vb = f32_buffer(matrix, "matrix"), f32_buffer(vector, "vector")
    rows = nbytes(mb) // nbytes(vb) if nbytes(vb) else 0
    _, out = call("vec_matvec", KERNEL_IDS["matvec"], isolation=isolation, data=mb, data2=vb,
                  out_cap=4 * rows)
    return array.array("f", out)


def vec_topk(matrix, query, k: int, metric: str = "l2sq", *,
             isolation: str | None = None) -> list[tuple[int, float]]:
    """The k rows nearest to ``query``: [(row, score)], best first.

    metric: ``l2sq`` (smallest distance first), ``dot`` or ``cosine`` (largest first).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}")
    if k < 0:
        raise ValueError("k must be >= 0")
    mb, qb = f32_buffer(matrix, "matrix"), f32_buffer(query, "query")
    rows = nbytes(mb) // nbytes(qb) if nbytes(qb) else 0
    res, out = call("vec_topk", KERNEL_IDS["topk"], isolation=isolation, data=mb, data2=qb,
                    out_cap=8 * min(k, rows), args=(k, METRICS[metric]))
    return [(row, score) for row, score in struct.iter_unpack("<If", out)]


__all__ = ["vec_dot", "vec_sum", "vec_l2norm", "vec_l2sq", "vec_cosine", "vec_axpy",
           "vec_matvec", "vec_topk"]


# --- edgehost kernel vec-* ------------------------------------------------

_ISO = click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
                    help="Where the kernel runs (default: kvm where /dev/kvm works).")
_FILE = click.File("rb")


def _emit_floats(values, out) -> None:
    if out is not None:
        out.write(array.array("f", values).tobytes())  # x86/wasm hosts are little-endian
        return
    for v in values:
        click.echo(f32_str(v))


def _binary(op: str, fn):
    @click.command(f"vec-{op}")
    @_ISO
    @click.argument("a", type=_FILE)
    @click.argument("b", type=_FILE)
    def cmd(isolation, a, b):
        click.echo(f32_str(fn(a.read(), b.read(), isolation=isolation)))

    cmd.help = f"Print {op} of two float32 little-endian vector files."
    return cmd


def _unary(op: str, fn):
    @click.command(f"vec-{op}")
    @_ISO
    @click.argument("a", type=_FILE)
    def cmd(isolation, a):
        click.echo(f32_str(fn(a.read(), isolation=isolation)))

    cmd.help = f"Print {op} of a float32 little-endian vector file."
    return cmd


@click.command("vec-axpy")
@_ISO
@click.option("--alpha", type=float, required=True)
@click.option("-o", "--output", type=click.File("wb"), default=None,
              help="Write float32 little-endian here instead of printing one value per line.")
@click.argument("x", type=_FILE)
@click.argument("y", type=_FILE)
def axpy_command(isolation, alpha, output, x, y):
    """alpha*X + Y for float32 little-endian files X and Y."""
    _emit_floats(vec_axpy(alpha, x.read(), y.read(), isolation=isolation), output)


@click.command("vec-matvec")
@_ISO
@click.option("-o", "--output", type=click.File("wb"), default=None,
              help="Write float32 little-endian here instead of printing one value per line.")
@click.argument("matrix", type=_FILE)
@click.argument("vector", type=_FILE)
def matvec_command(isolation, output, matrix, vector):
    """MATRIX (row-major, rows of len(VECTOR) floats) times VECTOR."""
    _emit_floats(vec_matvec(matrix.read(), vector.read(), isolation=isolation), output)


@click.command("vec-topk")
@_ISO
@click.option("-k", "k", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--metric", type=click.Choice(sorted(METRICS)), default="l2sq", show_default=True)
@click.argument("matrix", type=_FILE)
@click.argument("query", type=_FILE)
def topk_command(isolation, k, metric, matrix, query):
    """Print the K rows of MATRIX nearest QUERY as 'row<TAB>score', best first."""
    for row, score in vec_topk(matrix.read(), query.read(), k, metric, isolation=isolation):
        click.echo(f"{row}\t{f32_str(score)}")


CLI_COMMANDS = [
    _binary("dot", vec_dot), axpy_command, _unary("sum", vec_sum),
    _unary("l2norm", vec_l2norm), _binary("l2sq", vec_l2sq), _binary("cosine", vec_cosine),
    matvec_command, topk_command,
]
