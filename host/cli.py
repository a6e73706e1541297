"""The ``edgehost`` command line. Every EdgehostError becomes one line on
stderr and a non-zero exit; tracebacks are for bugs only."""

from __future__ import annotations

import sys

import click

from host.errors import EdgehostError


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


@cli.group("kernel")
def kernel_group():
    """Run one native kernel on files (honours --isolation kvm|inproc)."""


@cli.group("bench")
def bench_group():
    """Benchmarks: medians of several runs, peers measured in the same run."""


def _mount_plugins() -> None:
    from host import bench, kernels

    for cmd in kernels.CLI_COMMANDS:
        kernel_group.add_command(cmd)
    for cmd in bench.commands():
        bench_group.add_command(cmd)


_mount_plugins()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgehost")


if __name__ == "__main__":
    main()
