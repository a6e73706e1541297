"""``edgehost bench``: each module here defines ``command``, a click command
mounted as ``edgehost bench <name>``. Shared measuring and output helpers live
in :mod:`host.bench.common`."""

from __future__ import annotations

import importlib
import pkgutil


def commands() -> list:
    """All bench commands, one per module (modules starting with '_' or 'common' skipped)."""
    out = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        cmd = getattr(mod, "command", None)
        if cmd is not None:
            out.append(cmd)
    return out
