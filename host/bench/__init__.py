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


def command_named(name: str):
    """The bench command ``name`` (its module is ``name`` with '-' as '_'),
    importing only that module; None if there is none."""
    module = name.replace("-", "_")
    if module.startswith("_") or module == "common" or \
            module not in {m.name for m in pkgutil.iter_modules(__path__)}:
        return None
    cmd = getattr(importlib.import_module(f"{__name__}.{module}"), "command", None)
    return cmd if cmd is not None and cmd.name == name else None
