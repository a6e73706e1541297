"""The process's default kv store: what a :class:`~edgehost.runtime.tenant.Tenant`
uses when it is given none.

It is the store :func:`set_default_store` installed (``edgehost serve``
installs the one its ``--data`` / ``--kv`` name), else the one
``$EDGEHOST_KV`` / ``$EDGEHOST_DATA`` name, else the embedded store in the
user's data directory -- opened on first use and reused. A forked child
never uses its parent's store (LMDB environments and sockets do not survive
fork): it opens its own on first use.
"""

from __future__ import annotations

import os
import threading

from edgehost.state import spec as spec_mod
from edgehost.state.store import Store, open_spec

_lock = threading.Lock()
_store: Store | None = None
_key: tuple | None = None
_explicit = False


def default_store() -> Store:
    """The default store of this process (opened if needed)."""
    global _store, _key
    with _lock:
        if _explicit and _store is not None and _store.pid == os.getpid():
            return _store
        spec = spec_mod.parse(None, None)
        key = spec.key + (os.environ.get("EDGEHOST_DATA"), os.environ.get("XDG_DATA_HOME"))
        if _store is None or _key != key or _store.pid != os.getpid():
            _store, _key = open_spec(spec), key
        return _store


def set_default_store(store: Store | None) -> None:
    """Make ``store`` the default of this process (None: back to the environment's)."""
    global _store, _key, _explicit
    with _lock:
        _store, _key, _explicit = store, None, store is not None


def _forget_in_child() -> None:
    global _store, _key, _explicit, _lock
    _lock = threading.Lock()
    _store, _key, _explicit = None, None, False


os.register_at_fork(after_in_child=_forget_in_child)
