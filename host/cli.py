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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json):
    """Report KVM, CPU features, wasm toolchains and the wasmtime version."""
    import json

    from host import doctor as doc

    rep = doc.report()
    if as_json:
        click.echo(json.dumps(rep, indent=1))
        return
    ok = click.style("yes", fg="green")
    no = click.style("NO", fg="red")
    click.echo(f"kvm:               {ok if rep['kvm'] else no} ({rep['kvm_detail']})")
    g = rep["guest_call"]
    click.echo(f"guest call:        {ok if g.get('ok') else no} ({g.get('detail', '')})")
    click.echo(f"cold calls:        {rep['cold_calls']}")
    iso = rep["default_isolation"]
    warn = "" if iso == "kvm" else click.style("  <- kernels run WITHOUT hardware isolation",
                                               fg="yellow")
    click.echo(f"default isolation: {iso}{warn}")
    click.echo(f"cpu features:      {' '.join(rep['cpu_features']) or '(none)'}")
    for lang, tc in rep["toolchains"].items():
        click.echo(f"toolchain {lang:<8} {ok if tc['ok'] else no} ({tc['detail']})")
    click.echo(f"wasmtime:          {rep['wasmtime']}")


@cli.command()
@click.option("--force", is_flag=True, help="Rebuild even if the module is up to date.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def build(paths, force):
    """Compile tenant sources (C or Rust) to a validated .wasm next to each manifest."""
    from host import build as builder

    for p in paths:
        out, rebuilt = builder.build(p, force=force)
        click.echo(f"{'built' if rebuilt else 'up to date'}: {out}")


@cli.command()
@click.argument("tenant_dir", metavar="TENANT", type=click.Path())
@click.argument("export")
@click.option("--input", "input_", default=None, metavar="FILE|-",
              help="Request body: a file, or - for standard input (default: empty).")
@click.option("--header", "-H", "headers", multiple=True, metavar="NAME:VALUE",
              help="A request header (repeatable).")
@click.option("--query", default="", metavar="QUERY",
              help="The request's query string, without '?' (e.g. pointer=/a/0).")
@click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
              help="Override the manifest's isolation for offloaded kernels.")
@click.option("--show-status", is_flag=True, help="Print the HTTP status and headers to stderr.")
def call(tenant_dir, export, input_, headers, query, isolation, show_status):
    """Call handler EXPORT of the tenant in directory TENANT and print its response body."""
    import pathlib

    from host import tenant as tenant_mod
    from host.errors import InputError, TenantNotFound
    from wasm_config import manifest as manifest_mod

    d = pathlib.Path(tenant_dir)
    if not d.is_dir():
        raise TenantNotFound(tenant_dir, "no such directory")
    body = _read_input(input_)
    hdrs = {}
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise InputError(f"--header {h!r}: expected NAME:VALUE")
        hdrs[name.strip()] = value.strip()
    man = manifest_mod.load(d)
    if isolation:
        man.isolation = isolation
    t = tenant_mod.Tenant(man)
    resp = t.call(export, body, query=query, headers=hdrs)
    if show_status:
        click.echo(f"{resp.http_status} {dict(resp.headers)}", err=True)
    out = click.get_binary_stream("stdout")
    out.write(resp.body)
    if resp.body and not resp.body.endswith(b"\n") and out.isatty():
        out.write(b"\n")
    out.flush()


def _read_input(spec):
    from host.errors import InputError

    if spec is None:
        return b""
    if spec == "-":
        return click.get_binary_stream("stdin").read()
    try:
        with open(spec, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"--input {spec}: {exc.strerror}") from None


@cli.command("new")
@click.argument("name")
@click.option("--lang", type=click.Choice(["c", "rust"]), default="c", show_default=True)
@click.option("--dir", "parent", type=click.Path(file_okay=False), default=".",
              help="Where to create the tenant folder.")
def new_tenant(name, lang, parent):
    """Scaffold tenant NAME (a folder with edgehost.toml and sources) that builds as is."""
    import pathlib

    from host import scaffold

    dest = scaffold.new(name, lang, pathlib.Path(parent))
    click.echo(f"created {dest}; next: edgehost build {dest}")


@cli.command()
def demo():
    """Build and run the bundled example tenants, printing what each did."""
    from host import demo as demo_mod

    failures = demo_mod.run_demo()
    if failures:
        raise SystemExit(1)


@cli.command()
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when all is installed.")
@click.option("--rust/--no-rust", default=True, help="Also install the Rust->wasm toolchain.")
def setup(quiet, rust):
    """Install the Debian packages for C (and Rust) -> wasm32 builds (idempotent)."""
    from host import setup_toolchains

    setup_toolchains.install(["c", "rust"] if rust else ["c"], quiet=quiet)


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
