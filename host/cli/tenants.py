"""Commands on tenants: ``build``, ``call``, ``new``, ``demo``."""

from __future__ import annotations

import contextlib
import sys

import click

from edgehost.errors import EdgehostError


@click.command()
@click.option("--force", is_flag=True, help="Rebuild even if the module is up to date.")
@click.option("--allow-outside-sources", is_flag=True,
              help="Read sources the manifest names outside the tenant's directory.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def build(paths, force, allow_outside_sources):
    """Compile tenant sources (C or Rust) to a validated .wasm next to each manifest
    (the module always stays inside the tenant's directory)."""
    from edgehost.toolchain import build as builder

    for p in paths:
        with compiler_output():
            out, rebuilt = builder.build(p, force=force, report=echo_compiler_output,
                                         allow_outside_sources=allow_outside_sources)
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
@click.option("--method", "-X", default="POST", show_default=True, help="The request method.")
@click.option("--path", "req_path", default="/", show_default=True, help="The request path.")
@click.option("--query", default="", metavar="QUERY",
              help="The request's query string, without '?' (e.g. pointer=/a/0).")
@click.option("--isolation", type=click.Choice(["kvm", "inproc"]), default=None,
              help="Override the manifest's isolation for offloaded kernels.")
@click.option("--include", "-i", "include", is_flag=True,
              help="Print the status line and headers (HTTP/1.1 form) before the body.")
def call(tenant_dir, export, input_, headers, method, req_path, query, isolation, include):
    """Call handler EXPORT of the tenant in directory TENANT and print its response body.

    Like `curl --fail-with-body`: the body is printed, and an answer of HTTP 400
    or more also prints one error line and exits with status 22.
    """
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
    with tenant_mod.Tenant(man) as t:
        resp = t.call(export, body, method=method, path=req_path, query=query, headers=hdrs)
    out = sys.stdout.buffer
    if include:
        out.write(resp.head().encode("latin-1"))
    out.write(resp.body)
    if resp.body and not resp.body.endswith(b"\n") and out.isatty():
        out.write(b"\n")
    out.flush()
    if resp.http_status >= 400:
        raise HttpFailure(man.name, export, resp.http_status)


class HttpFailure(EdgehostError):
    """The tenant answered an HTTP error status (curl --fail's exit status, 22)."""

    exit_code = 22

    def __init__(self, tenant: str, export: str, status: int):
        self.tenant, self.export, self.status = tenant, export, status
        super().__init__(f"tenant {tenant!r} {export} answered HTTP {status} "
                         f"{_reason(status)}".rstrip())


def _reason(status: int) -> str:
    import http

    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _read_input(spec):
    from edgehost.errors import InputError

    if spec is None:
        return b""
    if spec == "-":
        return sys.stdin.buffer.read()
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
