"""Tenant state that lasts: the kv store behind the ``kv_*`` imports.

The embedded default is LMDB in the host's data directory, shared by every
process on the machine; a Redis/Valkey server shares state across machines;
``memory`` keeps it in one process. The data plane is C
(``native_modules/state``); this package is the control plane: choosing and
opening a store (:func:`open_store`, :mod:`.spec`), the process default
(:func:`default_store`), and the operator's reads and writes
(:class:`Namespace`, ``edgehost kv``).

Durability (LMDB, the default rule): a put or delete is committed when the
import returns -- every worker sees it, and it survives the death of any
process -- and it reaches the disk within ``flush_ms`` (default 50 ms). A
tenant with ``durable = "sync"`` in its manifest has each put and delete on
disk before the import returns. See docs in README.md ("Tenant state").
"""

from edgehost.state.datadir import default_data_dir
from edgehost.state.default import default_store, set_default_store
from edgehost.state.spec import StoreSpec, parse
from edgehost.state.store import DURABILITY, UNLIMITED, Namespace, Store, open_spec, open_store

__all__ = ["DURABILITY", "UNLIMITED", "Namespace", "Store", "StoreSpec", "default_data_dir",
           "default_store", "open_spec", "open_store", "parse", "set_default_store"]
