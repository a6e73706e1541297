"""``edgehost setup``: install the Debian packages the wasm toolchains need.

Idempotent and quiet: packages already installed are left alone; apt runs
only for what is missing (one ``apt-get update`` first)."""

from __future__ import annotations

import os
import shutil
import subprocess

import click

from edgehost.errors import EdgehostError
from edgehost.toolchain.compilers import APT


def missing(packages: list[str]) -> list[str]:
    """The packages dpkg does not report as installed."""
    out = []
    for pkg in packages:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                              text=True)
        if proc.returncode != 0 or "install ok installed" not in proc.stdout:
            out.append(pkg)
    return out


def install(langs: list[str], *, quiet: bool) -> None:
    """Install the packages of ``langs`` that are missing."""
    if not shutil.which("dpkg-query"):
        raise EdgehostError("edgehost setup needs a Debian-based system; install clang, lld, "
                            "wasi-libc and compiler-rt for wasm32 by hand")
    want = [p for lang in langs for p in APT[lang]]
    need = missing(want)
    if not need:
        if not quiet:
            click.echo("toolchains: all packages present (" + " ".join(want) + ")")
        return
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need]
    if os.geteuid() != 0:
        raise EdgehostError("missing packages; run as root: apt-get update && "
                            + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["apt-get", "update", "-qq"], cmd):
        proc = subprocess.run(step, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise EdgehostError(f"{' '.join(step)} failed: {proc.stderr.strip()[-300:]}")
    if not quiet:
        click.echo("toolchains: installed " + " ".join(need))
