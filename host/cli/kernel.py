"""``edgehost kernel NAME``: one native kernel on files, printing its result.

The commands are thin: they read files, call the Python kernel API
(:mod:`edgehost.kernels`) and format what it returns. Options are checked by
their click types (ranges included) before any kernel runs; every usage
error (a missing file, an option out of range) is one ``edgehost: error:``
line and exit status 2, like the typed errors (exit status 1).
"""

from __future__ import annotations

import array
import json as _stdjson
import sys

import click

from edgehost.errors import InputError
from edgehost.kernels._common import FLOAT_TYPES, f32_str
from edgehost.kernels.crc32c import crc32c_stream
from edgehost.kernels.csv import csv_rows
from edgehost.kernels.json import DEFAULT_DEPTH, MAX_DEPTH, json_check, json_minify, json_pointer
from edgehost.kernels.vector import (
    FLOAT_MAX,
    MAX_K,
    METRICS,
    vec_axpy,
    vec_cosine,
    vec_dot,
    vec_l2norm,
    vec_l2sq,
    vec_matvec,
    vec_sum,
    vec_topk,
)


class UsageError(InputError):
    """A command line the kernel commands cannot run: one line, exit status 2."""

    exit_code = 2


class KernelGroup(click.Group):
    """Turns click's usage errors in a kernel command (an unreadable file, an
    option out of its range) into one line: ``edgehost: error: kernel NAME:
    <what> ``, printed by the top-level group like every typed error."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            name = exc.ctx.info_name if exc.ctx is not None and exc.ctx.command is not self \
                else None
            where = f"kernel {name}: " if name else "kernel: "
            raise UsageError(where + exc.format_message().replace("\n", " ")) from None


@click.group("kernel", cls=KernelGroup)
def kernel_group():
    """Run one native kernel on files (honours --isolation kvm|inproc)."""


@click.command("crc32c")
@click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
              help="Where the kernel runs (default: kvm where /dev/kvm works).")
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
def crc32c_command(isolation, files):
    """Print the CRC32C of FILE as 8 hex digits ('-' reads stdin).

    With several files, each line is '<crc>  <name>'.
    """
    for f in files:
        value = f"{crc32c_stream(f, isolation=isolation):08x}"
        click.echo(value if len(files) == 1 else f"{value}  {getattr(f, 'name', '-')}")



@click.command("csv")
@click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
              help="Where the kernel runs (default: kvm where /dev/kvm works).")
@click.option("--delimiter", default=",", show_default=True, help="Field delimiter (one byte).")
@click.option("--quote", default='"', show_default=True, help="Quote character (one byte).")
@click.option("--strict", is_flag=True, help="RFC 4180 quoting: stray quotes are errors.")
@click.option("--rectangular", is_flag=True, help="Rows of different widths are errors.")
@click.argument("file", type=click.File("rb"))
def csv_command(isolation, delimiter, quote, strict, rectangular, file):
    """Print the rows of the CSV FILE as JSON arrays of strings, one per line."""
    data = file.read()
    rows = csv_rows(data, delimiter, quote, strict, rectangular, isolation=isolation)
    first = next((len(r) for r in rows if r), 0)
    if rows:
        click.echo("\n".join(_stdjson.dumps([v.decode("utf-8", "replace") for v in r],
                                             ensure_ascii=False) for r in rows))
    ragged = [i for i, r in enumerate(rows) if r and len(r) != first]
    if ragged:
        shown = ", ".join(str(i) for i in ragged[:10])
        more = "" if len(ragged) <= 10 else f" and {len(ragged) - 10} more"
        click.echo(f"note: {len(ragged)} ragged row(s) (0-based): {shown}{more}", err=True)



_ISO = click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
                    help="Where the kernel runs (default: kvm where /dev/kvm works).")
_DEPTH = click.option("--max-depth", default=DEFAULT_DEPTH, show_default=True,
                      type=click.IntRange(1, MAX_DEPTH),
                      help=f"Deepest nesting of arrays/objects accepted (1..{MAX_DEPTH}).")


@click.command("json-validate")
@_ISO
@_DEPTH
@click.argument("file", type=click.File("rb"))
def json_validate_command(isolation, max_depth, file):
    """Print `valid`, or `invalid: <kind> at byte N` and exit 1."""
    bad = json_check(file.read(), max_depth=max_depth, isolation=isolation)
    if bad is None:
        click.echo("valid")
        return
    click.echo(f"invalid: {bad[0]} at byte {bad[1]}")
    sys.exit(1)


@click.command("json-minify")
@_ISO
@_DEPTH
@click.argument("file", type=click.File("rb"))
def json_minify_command(isolation, max_depth, file):
    """Write FILE without insignificant whitespace to stdout."""
    sys.stdout.buffer.write(json_minify(file.read(), max_depth=max_depth, isolation=isolation))
    sys.stdout.buffer.write(b"\n")


@click.command("json-pointer")
@_ISO
@_DEPTH
@click.argument("file", type=click.File("rb"))
@click.argument("pointers", nargs=-1, required=True)
def json_pointer_command(isolation, max_depth, file, pointers):
    """Print the JSON text of the value at each POINTER (RFC 6901), one per line."""
    data = file.read()
    for p in pointers:
        v = json_pointer(data, p, max_depth=max_depth, isolation=isolation)
        sys.stdout.buffer.write(v.text + b"\n")



# --- edgehost kernel vec-* ------------------------------------------------

_ISO = click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
                    help="Where the kernel runs (default: kvm where /dev/kvm works).")
_FILE = click.File("rb")
_DTYPE = click.option("--dtype", type=click.Choice(sorted(FLOAT_TYPES)), default="float32",
                      is_eager=True,  # --alpha is checked against it
                      show_default=True, help="Element type of the input files.")


def _fmt(x: float, dtype: str) -> str:
    return f32_str(x) if dtype == "float32" else repr(x)


def _emit_floats(values: array.array, out, dtype: str) -> None:
    if out is not None:
        out.write(values.tobytes())  # x86/wasm hosts are little-endian
        return
    for v in values:
        click.echo(_fmt(v, dtype))


def _binary(op: str, fn):
    @click.command(f"vec-{op}")
    @_ISO
    @_DTYPE
    @click.argument("a", type=_FILE)
    @click.argument("b", type=_FILE)
    def cmd(isolation, dtype, a, b):
        click.echo(_fmt(fn(a.read(), b.read(), isolation=isolation, dtype=dtype), dtype))

    cmd.help = f"Print {op} of two little-endian float vector files."
    return cmd


def _unary(op: str, fn):
    @click.command(f"vec-{op}")
    @_ISO
    @_DTYPE
    @click.argument("a", type=_FILE)
    def cmd(isolation, dtype, a):
        click.echo(_fmt(fn(a.read(), isolation=isolation, dtype=dtype), dtype))

    cmd.help = f"Print {op} of a little-endian float vector file."
    return cmd


def _check_alpha(ctx, param, value):
    """--alpha must be a value of --dtype (float32 holds up to about 3.4e38;
    inf and nan are values of both types)."""
    dtype = ctx.params.get("dtype", "float32")
    limit = FLOAT_MAX[dtype]
    if value == value and abs(value) != float("inf") and abs(value) > limit:
        raise click.BadParameter(f"{value!r} is outside the {dtype} range "
                                 f"[-{limit!r}, {limit!r}]")
    return value


@click.command("vec-axpy")
@_ISO
@_DTYPE
@click.option("--alpha", type=float, required=True, callback=_check_alpha,
              help="The scale of X: a float32 (or with --dtype float64 a float64) value.")
@click.option("-o", "--output", type=click.File("wb"), default=None,
              help="Write float32 little-endian here instead of printing one value per line.")
@click.argument("x", type=_FILE)
@click.argument("y", type=_FILE)
def axpy_command(isolation, dtype, alpha, output, x, y):
    """alpha*X + Y for little-endian float files X and Y."""
    _emit_floats(vec_axpy(alpha, x.read(), y.read(), isolation=isolation, dtype=dtype), output,
                 dtype)


@click.command("vec-matvec")
@_ISO
@_DTYPE
@click.option("-o", "--output", type=click.File("wb"), default=None,
              help="Write float32 little-endian here instead of printing one value per line.")
@click.argument("matrix", type=_FILE)
@click.argument("vector", type=_FILE)
def matvec_command(isolation, dtype, output, matrix, vector):
    """MATRIX (row-major, rows of len(VECTOR) floats) times VECTOR."""
    _emit_floats(vec_matvec(matrix.read(), vector.read(), isolation=isolation, dtype=dtype),
                 output, dtype)


@click.command("vec-topk")
@_ISO
@click.option("-k", "k", type=click.IntRange(0, MAX_K), default=10, show_default=True,
              help=f"Rows to print (0..{MAX_K}; at most the matrix's rows are).")
@click.option("--metric", type=click.Choice(sorted(METRICS)), default="l2sq", show_default=True)
@click.argument("matrix", type=_FILE)
@click.argument("query", type=_FILE)
def topk_command(isolation, k, metric, matrix, query):
    """Print the K rows of MATRIX nearest QUERY (float32) as 'row<TAB>score', best first."""
    for row, score in vec_topk(matrix.read(), query.read(), k, metric, isolation=isolation):
        click.echo(f"{row}\t{f32_str(score)}")


COMMANDS = [
    _binary("dot", vec_dot), axpy_command, _unary("sum", vec_sum),
    _unary("l2norm", vec_l2norm), _binary("l2sq", vec_l2sq), _binary("cosine", vec_cosine),
    matvec_command, topk_command,
]


for _cmd in [crc32c_command, csv_command, json_validate_command, json_minify_command,
             json_pointer_command, *COMMANDS]:
    kernel_group.add_command(_cmd)
