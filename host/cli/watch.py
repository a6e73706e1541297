"""``edgehost watch DIR``: serve tenants for development -- a changed source
rebuilds its tenant, a build error is shown in full and the previous version
keeps serving; a changed module or manifest reloads like ``edgehost serve``."""

from __future__ import annotations

import click

from edgehost.cli.serve import serve as _serve

watch = click.Command(
    "watch", callback=_serve.callback,
    params=[p for p in _serve.params if p.name != "watch"],
    help="""Serve the tenants in DIRS and rebuild each one when its sources change.

    Like `edgehost serve` (same options), for development: an edited source
    rebuilds its tenant (`edgehost build`) and the new module is checked and
    swapped in while requests keep being answered; a build error prints the
    compiler's whole output and the previous version keeps serving. A change
    to [config] alone reconfigures without recompiling.""",
    short_help="Serve tenants and rebuild them when their sources change.")
