"""``edgehost kv``: the operator's view of tenant state, on a running host's
store (LMDB lets another process in; Redis is a server). Keys and values are
UTF-8 text on the command line, or hex with ``--hex``."""

from __future__ import annotations

import sys

import click

from edgehost.errors import InputError, StoreError
from edgehost.state.options import open_from_options, store_options
from edgehost.wasm_config.manifest import NAME_RE


def _tenant(name: str) -> str:
    if not NAME_RE.match(name):
        raise InputError(f"{name!r} is not a tenant name (lowercase letters, digits, '-', '_')")
    return name


def _bytes(text: str, as_hex: bool, what: str) -> bytes:
    if not as_hex:
        return text.encode()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not hex") from None


def _show(raw: bytes, as_hex: bool) -> str:
    """A key for one line: hex, or text with anything unprintable as an escape."""
    if as_hex:
        return raw.hex()
    text = raw.decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _open(data, kv):
    store = open_from_options(data, kv)
    if store.backend == "memory":
        store.close()
        raise StoreError("memory", "lives inside one process; edgehost kv cannot reach it "
                         "(use lmdb or redis://)")
    return store


def _no_key(tenant: str, key: str) -> InputError:
    return InputError(f"tenant {tenant!r} has no key {key!r}")


@click.group("kv")
def kv_group():
    """Tenant state: list, read, write, delete keys; drop a tenant's data."""


@kv_group.command("ls")
@click.argument("tenant", required=False)
@click.option("--hex", "as_hex", is_flag=True, help="Print keys as hex.")
@store_options
def ls(tenant, as_hex, data, kv):
    """List tenants with data (keys, bytes), or TENANT's keys."""
    name = _tenant(tenant) if tenant is not None else None
    with _open(data, kv) as store:
        if name is None:
            for each in store.tenants():
                with store.namespace(each) as ns:
                    count, used = ns.stats()
                click.echo(f"{each}\t{count} keys\t{used} bytes")
            return
        with store.namespace(name) as ns:
            for key in ns.keys():
                click.echo(_show(key, as_hex))


def _key_command(name: str, hex_help: str):
    """``edgehost kv NAME TENANT KEY [--hex]`` and the store options, in the
    order --help lists them: the commands that act on one existing key."""
    def wrap(fn):
        fn = store_options(fn)
        fn = click.option("--hex", "as_hex", is_flag=True, help=hex_help)(fn)
        fn = click.argument("key")(fn)
        fn = click.argument("tenant")(fn)
        return kv_group.command(name)(fn)
    return wrap


@_key_command("get", "KEY is hex; print the value as hex.")
def get(tenant, key, as_hex, data, kv):
    """Print the value of KEY (raw bytes, or hex with --hex)."""
    k, name = _bytes(key, as_hex, "key"), _tenant(tenant)
    with _open(data, kv) as store, store.namespace(name) as ns:
        val = ns.get(k)
    if val is None:
        raise _no_key(tenant, key)
    if as_hex:
        click.echo(val.hex())
    else:
        sys.stdout.buffer.write(val)
        sys.stdout.buffer.flush()


@kv_group.command("put")
@click.argument("tenant")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--input", "input_", type=click.File("rb"), default=None, metavar="FILE|-",
              help="Read the value from a file (- for stdin) instead of VALUE.")
@click.option("--hex", "as_hex", is_flag=True, help="KEY and VALUE are hex.")
@store_options
def put(tenant, key, value, input_, as_hex, data, kv):
    """Set KEY to VALUE (the tenant's quota is not applied to operators)."""
    if (value is None) == (input_ is None):
        raise InputError("give either VALUE or --input FILE")
    val = input_.read() if input_ is not None else _bytes(value, as_hex, "value")
    k, name = _bytes(key, as_hex, "key"), _tenant(tenant)
    with _open(data, kv) as store, store.namespace(name) as ns:
        ns.put(k, val)


@_key_command("del", "KEY is hex.")
def delete(tenant, key, as_hex, data, kv):
    """Delete KEY."""
    k, name = _bytes(key, as_hex, "key"), _tenant(tenant)
    with _open(data, kv) as store, store.namespace(name) as ns:
        if not ns.delete(k):
            raise _no_key(tenant, key)


@kv_group.command("drop")
@click.argument("tenant")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
def drop(tenant, yes, data, kv):
    """Delete ALL of TENANT's data (unloading a tenant keeps it; this does not)."""
    name = _tenant(tenant)
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("dropping a tenant's data needs --yes when not interactive")
        click.confirm(f"Delete every key of tenant {name!r}?", abort=True)
    with _open(data, kv) as store, store.namespace(name) as ns:
        count, used = ns.stats()
        ns.drop()
    click.echo(f"dropped {name}: {count} keys, {used} bytes")
