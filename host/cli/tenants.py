"""Commands on tenants: ``build``, ``call``, ``new``, ``demo``."""

from __future__ import annotations

import contextlib

import click


@click.command()
@click.option("--force", is_flag=True, help="Rebuild even if the module is up to date.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def build(paths, force):
    """Compile tenant sources (C or Rust) to a validated .wasm next to each manifest."""
    from edgehost.toolchain import build as builder

    for p in paths:
        with compiler_output():
            out, rebuilt = builder.build(p, force=force, report=echo_compiler_output)
        click.echo(f"{'built' if rebuilt else 'up to date'}: {out}")


def echo_compiler_output(text: str) -> None:
    """The compiler's own output (warnings, errors), verbatim on stderr."""
    click.echo(text.rstrip("\n"), err=True)


@contextlib.contextmanager
def compiler_output():
    """A BuildError's whole compiler output goes to stderr before its one
    ``edgehost: error:`` line."""
    from edgehost.errors import BuildError

    try:
        yield
    except BuildError as exc:
        echo_compiler_output(exc.output)
        raise


def rebuild_if_stale(tenant_dir) -> None:
    """Before running a tenant from the command line: rebuild its module when
    its sources are newer, or say that the old module runs (no toolchain)."""
    from edgehost.errors import ToolchainMissing
    from edgehost.toolchain import build as builder

    if not builder.stale(tenant_dir):
        return
    try:
        with compiler_output():
            out, _ = builder.build(tenant_dir, report=echo_compiler_output)
    except ToolchainMissing as exc:
        click.echo(f"edgehost: warning: the sources of {tenant_dir} are newer than its module; "
                   f"running the old module ({exc})", err=True)
        return
    click.echo(f"edgehost: rebuilt {out} (its sources were newer)", err=True)


@click.command()
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

    from edgehost.errors import InputError, TenantNotFound
    from edgehost.runtime import tenant as tenant_mod
    from edgehost.wasm_config import manifest as manifest_mod

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
    if man.sources and man.wasm.is_file():  # a missing module is an error (below), not a build
        rebuild_if_stale(d)
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
    from edgehost.errors import InputError

    if spec is None:
        return b""
    if spec == "-":
        return click.get_binary_stream("stdin").read()
    try:
        with open(spec, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"--input {spec}: {exc.strerror}") from None



@click.command("new")
@click.argument("name")
@click.option("--lang", type=click.Choice(["c", "rust"]), default="c", show_default=True)
@click.option("--dir", "parent", type=click.Path(file_okay=False), default=".",
              help="Where to create the tenant folder.")
def new_tenant(name, lang, parent):
    """Scaffold tenant NAME (a folder with edgehost.toml and sources) that builds as is."""
    import pathlib

    from edgehost.toolchain import scaffold

    dest = scaffold.new(name, lang, pathlib.Path(parent))
    click.echo(f"created {dest}; next: edgehost build {dest}")


@click.command()
def demo():
    """Build and run the bundled example tenants, printing what each did."""
    from edgehost.cli import demo as demo_mod

    failures = demo_mod.run_demo()
    if failures:
        raise SystemExit(1)
