"""CRC32C (Castagnoli) kernel: Python API and ``edgehost kernel crc32c``."""

from __future__ import annotations

import click

from host.kernels._common import call

KERNEL_ID = 1


def crc32c(data: bytes, seed: int = 0, *, isolation: str | None = None) -> int:
    """CRC32C of ``data``, continuing from ``seed`` (a previous result)."""
    res, _ = call("crc32c", KERNEL_ID, isolation=isolation, data=data, args=(seed & 0xFFFFFFFF,))
    return res.value & 0xFFFFFFFF


@click.command("crc32c")
@click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
              help="Where the kernel runs (default: kvm where /dev/kvm works).")
@click.argument("file", type=click.File("rb"))
def crc32c_command(isolation, file):
    """Print the CRC32C of FILE as 8 hex digits."""
    click.echo(f"{crc32c(file.read(), isolation=isolation):08x}")


__all__ = ["crc32c"]
CLI_COMMANDS = [crc32c_command]
