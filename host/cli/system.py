"""``edgehost doctor`` and ``edgehost setup``: this machine and its toolchains."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json):
    """Report KVM, CPU features, wasm toolchains and the wasmtime version."""
    import json

    from edgehost import doctor as doc

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



@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when all is installed.")
@click.option("--rust/--no-rust", default=True, help="Also install the Rust->wasm toolchain.")
def setup(quiet, rust):
    """Install the Debian packages for C (and Rust) -> wasm32 builds (idempotent)."""
    from edgehost.toolchain import apt as setup_toolchains

    setup_toolchains.install(["c", "rust"] if rust else ["c"], quiet=quiet)
