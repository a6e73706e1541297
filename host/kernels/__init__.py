"""Python API of the native kernels: ``edgehost.kernels.crc32c(data, isolation=...)`` etc.

Each module in this package owns one kernel family and exports its public
functions in ``__all__``; this file only gathers them. The command line for
them lives in :mod:`edgehost.cli.kernel`.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_mod, "__all__", []):
        globals()[_name] = getattr(_mod, _name)
        __all__.append(_name)
