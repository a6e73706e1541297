"""``edgehost serve``: the tenants answer HTTP (see :mod:`edgehost.serving`)."""

from __future__ import annotations

import logging
import os
import sys

import click

from edgehost.serving.master import Master, ServeConfig, parse_addr
from edgehost.state.options import check_store, store_options


@click.command("serve")
@click.argument("dirs", nargs=-1, type=click.Path())
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="Address to answer HTTP on (port 0: any free port).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Handler threads per worker, per lane (fast and low-priority).")
@click.option("--inline/--no-inline", default=True, show_default=True,
              help="Let a worker's event-loop thread run the calls of tenants proven fast "
                   "itself (no hand-off to a handler thread; past 1 ms such a call is "
                   "preempted and queued, see README). --no-inline: tenant code runs only "
                   "on handler threads.")
@click.option("--admin", default=None, metavar="HOST:PORT",
              help="Admin listener: /metrics (Prometheus), /healthz, /status.")
@click.option("--request-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0.1, 3600), metavar="SECONDS",
              help="Time a connection has to deliver a whole request (headers and body), "
                   "and to send the next one on a kept-alive connection.")
@click.option("--drain-timeout", default=30.0, show_default=True,
              type=click.FloatRange(0.1, 3600), metavar="SECONDS",
              help="On SIGTERM, how long in-flight requests may take to finish.")
@click.option("--queue", default=1024, show_default=True, type=click.IntRange(1, 1 << 20),
              help="Requests one tenant may have in flight per worker; past it: 503.")
@click.option("--access-log", default=None, metavar="FILE|-",
              help="One JSON line per request (default: none).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Tenant log lines and server messages below this level are dropped.")
@click.option("--guest-spin-us", default=None, type=click.IntRange(0, 1_000_000),
              metavar="US", help="How long a tenant's KVM guest keeps polling for the next "
              "kernel call before it parks (default: the monitor's 100 us; 0 when the "
              "server has no core to spare for it).")
@store_options
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Hot reload: load a tenant's new module or manifest when it changes on disk.")
def serve(dirs, listen, workers, threads, inline, admin, request_timeout, drain_timeout, queue,
          access_log, log_level, guest_spin_us, data, kv, watch=True):
    """Serve the tenants in DIRS over HTTP (default: the bundled examples).

    Each DIR is a tenant (it has an edgehost.toml) or a folder of tenants.
    Modules missing or older than their sources are built first. A tenant's
    routes are mounted under its `prefix` (default /NAME) for its `host`
    (default any), e.g. GET /hello-c/hello. SIGHUP reloads the tenants,
    SIGUSR2 restarts the workers one by one, SIGTERM or ^C drains and stops.
    A changed module or manifest is loaded, checked and swapped in tenant by
    tenant (--no-watch: only on SIGHUP); `edgehost status` shows the versions.
    """
    logging.basicConfig(level=log_level.upper(), format="edgehost: %(message)s",
                        stream=sys.stderr)
    bundled = not dirs
    if bundled:
        from edgehost.serving.plan import bundled_examples

        dirs = (str(bundled_examples()),)
    cfg = ServeConfig(
        dirs=list(dirs), listen=parse_addr(listen, "--listen"), workers=workers,
        threads=threads, inline=inline, admin=parse_addr(admin, "--admin") if admin else None,
        request_timeout_ms=int(request_timeout * 1000), drain_timeout_ms=int(drain_timeout * 1000),
        queue=queue, access_log=access_log, log_level=log_level, guest_spin_us=guest_spin_us,
        kv=kv, data=data, watch=watch,
        build_sources=click.get_current_context().info_name == "watch")
    check_store(kv, data)  # a bad --kv/--data is one error line here, not in every worker

    def announce(text: str) -> None:
        click.echo(text)
        sys.stdout.flush()

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    from edgehost.cli.tenants import compiler_output

    with compiler_output():
        Master(cfg, dirs_are_bundled=bundled).run(announce)
