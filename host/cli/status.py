"""``edgehost status``: what every running ``edgehost serve`` (or one, by its
admin address) serves -- each tenant's version, when it went live, its
checks and the last reload error."""

from __future__ import annotations

import json

import click


def _fetch(admin: str) -> dict:
    import http.client

    from edgehost.errors import EdgehostError
    from edgehost.serving.master import parse_addr

    host, port = parse_addr(admin, "--admin")
    try:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/status")
        resp = conn.getresponse()
        body = resp.read()
    except OSError as exc:
        raise EdgehostError(f"cannot reach the admin listener {admin}: "
                            f"{exc.strerror or exc}") from None
    if resp.status != 200:
        raise EdgehostError(f"{admin}/status answered {resp.status}")
    data = json.loads(body)
    return {"pid": None, "listen": f"port {data.get('port')}", "admin": admin,
            "tenants": data.get("versions", {})}


def _line(name: str, t: dict) -> list[str]:
    checks = t.get("checks") or []
    ok = sum(1 for c in checks if c.get("ok"))
    snap = (t.get("snapshot") or {}).get("state")
    snap_note = f" (snapshot {snap})" if snap not in (None, "live") else ""
    out = [f"  {name}: version {t.get('version') or '-'} (module "
           f"{(t.get('module_sha256') or '-')[:12]}), {t.get('form') or '-'}{snap_note}"
           f", live since {t.get('loaded_at') or '-'}"
           + (f", {t['live_after_ms']} ms after its files" if t.get("live_after_ms") else ""),
           f"    checks: {ok}/{len(checks)} passed" + "".join(
               f"; {c['name']}: {'ok' if c.get('ok') else 'FAILED ' + c.get('reason', '')}"
               f" ({c.get('ms', 0):.1f} ms)" for c in checks)
           + f"; reloads {t.get('reloads', 0)}, rejected {t.get('rejected', 0)}"]
    err = t.get("last_error")
    if err:
        out.append(f"    last reload error ({err.get('at')}): {err.get('file')}: "
                   f"{err.get('reason')}")
    return out


@click.command("status")
@click.option("--admin", default=None, metavar="HOST:PORT",
              help="Ask the server with this admin listener (default: every server of "
                   "this user on this machine).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(admin, as_json):
    """Show each served tenant's version (content hash), when it was loaded,
    its golden-request checks and the last reload error."""
    from edgehost.reload.coordinator import live_servers

    servers = [_fetch(admin)] if admin else live_servers()
    if as_json:
        click.echo(json.dumps(servers, indent=1))
        return
    if not servers:
        click.echo("no edgehost serve is running (for this user)")
        return
    for s in servers:
        who = f"pid {s['pid']}, " if s.get("pid") else ""
        click.echo(f"edgehost serve ({who}{s.get('listen')}"
                   f"{', admin ' + s['admin'] if s.get('admin') else ''}"
                   f"{', watching ' + ', '.join(s['dirs']) if s.get('watching') else ''}):")
        for name, t in sorted(s.get("tenants", {}).items()):
            for line in _line(name, t):
                click.echo(line)
