"""The ``edgehost`` command line (see :mod:`edgehost.cli.main`)."""

from edgehost.cli.main import cli, main

__all__ = ["cli", "main"]
