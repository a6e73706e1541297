"""The ``edgehost`` command line. Every EdgehostError becomes one line on
stderr and a non-zero exit; tracebacks are for bugs only.

One module per group of commands: :mod:`.tenants` (build, call, new, demo),
:mod:`.system` (doctor, setup), :mod:`.kernel` (kernel NAME), and the
benchmarks in :mod:`edgehost.bench`.
"""

from __future__ import annotations

import sys

import click

from edgehost.errors import EdgehostError


class EdgehostGroup(click.Group):
    """A click group that turns typed errors into one clear line."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgehostError as exc:
            click.echo(f"edgehost: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=EdgehostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgehost")
def cli():
    """edgehost: a multi-tenant edge host for WASM tenants with native kernels in KVM guests."""


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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgehost")


if __name__ == "__main__":
    main()
