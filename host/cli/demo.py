"""``edgehost demo``: build the bundled example tenants (if needed) and run each
on an embedded input, printing what it did."""

from __future__ import annotations

import pathlib
import shutil

import click

from edgehost import paths
from edgehost.errors import EdgehostError, ToolchainMissing
from edgehost.runtime import tenant
from edgehost.toolchain import build
from edgehost.wasm_config import manifest as manifest_mod


def _workdir() -> pathlib.Path:
    """A writable copy of the bundled examples (the package may be read-only)."""
    src = paths.examples_dir()
    dst = paths.cache_dir() / "demo"
    for man in sorted(src.glob("*/edgehost.toml")):
        tdir = dst / man.parent.name
        tdir.mkdir(parents=True, exist_ok=True)
        for f in man.parent.rglob("*"):
            if f.is_file() and not f.name.endswith(".wasm") and "target" not in f.parts:
                target = tdir / f.relative_to(man.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists() or target.read_bytes() != f.read_bytes():
                    shutil.copy2(f, target)
    return dst


def run_demo() -> int:
    """Run every example's ``[demo]`` steps; return the number of failures."""
    from edgehost.cli import demo_steps

    work = _workdir()
    failures = 0
    for tdir in sorted(p.parent for p in work.glob("*/edgehost.toml")):
        man = manifest_mod.load(tdir)
        click.secho(f"== {man.name}: {man.description}", bold=True)
        try:
            wasm, rebuilt = build.build(tdir)
            click.echo(f"   built {wasm.name} ({wasm.stat().st_size} bytes)"
                       if rebuilt else f"   {wasm.name} up to date")
            with tenant.Tenant(man) as t:
                click.echo(f"   isolation: {t.isolation}; handlers: {', '.join(t.handlers)}")
                for line in demo_steps.run(man.name, t):
                    click.echo(f"   {line}")
        except ToolchainMissing as exc:
            failures += 1
            click.secho(f"   skipped: {exc}", fg="yellow")
        except EdgehostError as exc:
            failures += 1
            click.secho(f"   failed: {exc}", fg="red")
    return failures
