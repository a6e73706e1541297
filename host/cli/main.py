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

import importlib
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


# Where each command lives: imported only when it runs (or ``--help`` lists
# it), so a command does not pay for importing every other one -- ``bench
# all`` starts a process per family. tests/unit/test_cli_layout.py checks
# that every command those modules define is listed here.
COMMAND_MODULES = {
    "build": "edgehost.cli.tenants", "call": "edgehost.cli.tenants",
    "new": "edgehost.cli.tenants", "demo": "edgehost.cli.tenants",
    "doctor": "edgehost.cli.system", "setup": "edgehost.cli.system",
    "kernel": "edgehost.cli.kernel", "serve": "edgehost.cli.serve",
    "kv": "edgehost.cli.kv", "watch": "edgehost.cli.watch", "status": "edgehost.cli.status",
}


def _command_in(module: str, name: str) -> click.Command | None:
    mod = importlib.import_module(module)
    return next((o for o in vars(mod).values()
                 if isinstance(o, click.Command) and o.name == name), None)


def _lazy_get(group: click.Group, ctx, name: str, find) -> click.Command | None:
    cmd = click.Group.get_command(group, ctx, name)
    if cmd is None:
        cmd = find(name)
        if cmd is not None:
            group.add_command(cmd)
    return cmd


def _top_list(ctx) -> list[str]:
    return sorted({*click.Group.list_commands(cli, ctx), *COMMAND_MODULES})


def _top_get(ctx, name: str) -> click.Command | None:
    return _lazy_get(cli, ctx, name, lambda n: _command_in(COMMAND_MODULES[n], n)
                     if n in COMMAND_MODULES else None)


def _bench_list(ctx) -> list[str]:
    from edgehost import bench

    return sorted(c.name for c in bench.commands())


def _bench_get(ctx, name: str) -> click.Command | None:
    from edgehost import bench

    return _lazy_get(bench_group, ctx, name, bench.command_named)


cli.list_commands, cli.get_command = _top_list, _top_get
bench_group.list_commands, bench_group.get_command = _bench_list, _bench_get


def error_line(message: str) -> str:
    """The one line a failure prints: ``edgehost: error: <message>`` (newlines folded)."""
    return "edgehost: error: " + " ".join(str(message).split())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``edgehost``)."""
    cli.main(args=argv, prog_name="edgehost")


if __name__ == "__main__":
    main()
