"""The ``edgehost`` command line.

Conventions every command follows:

- every failure the user can cause -- an EdgehostError, a usage error, a
  file click cannot open -- is ONE line on stderr, ``edgehost: error: ...``,
  and a non-zero exit (2 for usage errors, as click and most tools use);
  tracebacks are for bugs only;
- ``-v`` (info) / ``-vv`` (debug), ``--log-level LEVEL`` or the environment
  variable ``EDGEHOST_LOG=LEVEL`` choose which log lines reach stderr,
  tenants' own lines included (``[level] <tenant>: <message>``); the default
  shows warnings and errors (``edgehost serve`` has its own ``--log-level``);
- ``NO_COLOR`` (any non-empty value, https://no-color.org) turns colour off.

One module per group of commands: :mod:`.tenants` (build, call, new, demo),
:mod:`.system` (doctor, setup), :mod:`.kernel` (kernel NAME), and the
benchmarks in :mod:`edgehost.bench`.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from edgehost.errors import EdgehostError

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
              "warning": logging.WARNING, "error": logging.ERROR}
LOG_ENV = "EDGEHOST_LOG"
USAGE_EXIT = 2
# Commands that set up logging themselves (serve: JSON lines from its workers,
# its own --log-level).
OWN_LOGGING = {"serve"}


class _LogFormat(logging.Formatter):
    """``[level] <tenant>: msg`` for tenants' lines, ``[level] edgehost: msg`` else
    (never ``edgehost: error:``, which is the one line a failed command prints)."""

    def format(self, record: logging.LogRecord) -> str:
        who = record.name.removeprefix("edgehost.tenant.") \
            if record.name.startswith("edgehost.tenant.") else "edgehost"
        level = {"WARNING": "warn", "CRITICAL": "fatal"}.get(record.levelname,
                                                            record.levelname.lower())
        return f"[{level}] {who}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it)."""

    def __init__(self, level: int):
        super().__init__()
        self.setLevel(level)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def setup_logging(level: int):
    """Send edgehost's log lines (tenants' included) at ``level`` and above to
    stderr; returns the function that undoes it."""
    logger = logging.getLogger("edgehost")
    handler = _StderrHandler(level)
    handler.setFormatter(_LogFormat())
    logger.addHandler(handler)
    saved = logger.level
    if level < logger.getEffectiveLevel():
        logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved)

    return undo


def _level(verbose: int, log_level: str | None) -> int:
    if log_level is None and verbose == 0:
        log_level = os.environ.get(LOG_ENV) or None
    if log_level is not None:
        key = log_level.strip().lower()
        if key not in LOG_LEVELS:
            raise click.BadParameter(f"{log_level!r} is not one of debug, info, warn, error",
                                     param_hint=f"--log-level / {LOG_ENV}")
        return LOG_LEVELS[key]
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


class EdgehostGroup(click.Group):
    """The root group: runs the command and turns every expected failure into
    :func:`error_line` and an exit status, however it is invoked (console
    script, ``python -m edgehost``, click's test runner)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        if "color" not in extra and os.environ.get("NO_COLOR"):
            extra["color"] = False
        try:
            rc = super().main(args, prog_name, complete_var, False, **extra)
        except EdgehostError as exc:
            _fail(str(exc), exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else (prog_name or "edgehost")
            _fail(f"{where}: {exc.format_message()} (see {where} --help)", USAGE_EXIT)
        except click.ClickException as exc:  # FileError, BadParameter outside a command
            _fail(exc.format_message(), exc.exit_code or 1)
        except click.Abort:
            _fail("interrupted", 130)
        sys.exit(rc if isinstance(rc, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(error_line(message), err=True)
    sys.exit(code)


@click.group(cls=EdgehostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgehost")
@click.option("-v", "--verbose", count=True,
              help="Show more log lines: -v info, -vv debug (tenants' lines included).")
@click.option("--log-level", default=None, metavar="LEVEL",
              help=f"debug, info, warn or error (default warn; also ${LOG_ENV}).")
@click.pass_context
def cli(ctx, verbose, log_level):
    """edgehost: a multi-tenant edge host for WASM tenants with native kernels in KVM guests."""
    level = _level(verbose, log_level)
    if ctx.invoked_subcommand not in OWN_LOGGING:
        ctx.call_on_close(setup_logging(level))


@cli.group("bench")
def bench_group():
    """Benchmarks: medians of several runs, peers measured in the same run."""


def _mount() -> None:
    from edgehost import bench
    from edgehost.cli import kernel, serve, status, system, tenants, watch

    for mod in (tenants, system):
        for obj in vars(mod).values():
            if isinstance(obj, click.Command) and obj.callback.__module__ == mod.__name__:
                cli.add_command(obj)
    cli.add_command(kernel.kernel_group)
    cli.add_command(serve.serve)
    from edgehost.cli.kv import kv_group  # noqa: I001 (one line per group keeps merges apart)
    cli.add_command(kv_group)
    cli.add_command(watch.watch)
    cli.add_command(status.status)
    for cmd in bench.commands():
        bench_group.add_command(cmd)


_mount()


def error_line(message: str) -> str:
    """The one line a failure prints: ``edgehost: error: <message>`` (newlines folded)."""
    return "edgehost: error: " + " ".join(str(message).split())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``edgehost``)."""
    cli.main(args=argv, prog_name="edgehost")


if __name__ == "__main__":
    main()
