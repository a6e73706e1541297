"""The ``--data`` / ``--kv`` options every command that opens the kv store
takes (``edgehost kv``, and the server), and opening the store they name."""

from __future__ import annotations

import click

from edgehost.state.store import Store, open_store

DATA_HELP = ("Data directory of the embedded store (default: $EDGEHOST_DATA, else "
             "$XDG_DATA_HOME/edgehost or ~/.local/share/edgehost).")
KV_HELP = ("Which kv store: lmdb (default; options as lmdb:?flush_ms=50&map_mb=8192), "
           "redis://[:PASSWORD@]HOST[:PORT][/DB][?prefix=eh&timeout_ms=500], or memory "
           "(default: $EDGEHOST_KV).")


def store_options(fn):
    """Add ``--data DIR`` and ``--kv STORE`` to a click command (as ``data``, ``kv``)."""
    fn = click.option("--kv", "kv", default=None, metavar="STORE", help=KV_HELP)(fn)
    return click.option("--data", "data", default=None, metavar="DIR",
                        type=click.Path(file_okay=False), help=DATA_HELP)(fn)


def open_from_options(data: str | None, kv: str | None) -> Store:
    """The store named by the options (StoreError, one line, when it cannot be opened)."""
    return open_store(kv, data)


def check_store(kv: str | None, data: str | None) -> None:
    """Open and close the store the options name: StoreError now if it cannot be
    (a bad spec, an unusable data directory); a Redis server is not contacted."""
    open_store(kv, data).close()
