"""Hot reload: tenants change on disk while traffic flows.

* :mod:`.watcher`     -- watchdog on the tenant directories, debounced, with a rescan
* :mod:`.files`       -- a tenant's files read consistently; the version is their content hash
* :mod:`.pipeline`    -- compile (module cache), ABI check, configure, golden requests
* :mod:`.canary`      -- the golden requests (``[[check]]``) a version must answer
* :mod:`.snapshot`    -- start from the configured state (a rewritten module)
* :mod:`.wasm_binary` -- the section-level module edits snapshots need
* :mod:`.registry`    -- the Python API: :class:`Registry` (one process)
* :mod:`.coordinator` -- ``edgehost serve``'s master: one version for every worker
* :mod:`.worker_side` -- a worker's part: prepare, commit, abort, snapshot
* :mod:`.status`      -- per-tenant records for ``edgehost status`` and ``/status``
"""

from edgehost.reload.registry import Registry
from edgehost.reload.watcher import Watcher

__all__ = ["Registry", "Watcher"]
