"""Where the SDK and the bundled examples live: inside the installed package
(copied there by setup.py's build_py) or, in a source checkout / editable
install, at the repository root."""

from __future__ import annotations

import os
import pathlib

_HERE = pathlib.Path(__file__).resolve().parent
_BUNDLED = _HERE / "_bundled"
_REPO = _HERE.parent


def _pick(name: str) -> pathlib.Path:
    for base in (_BUNDLED, _REPO):  # an installed wheel, then a source checkout
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"edgehost {name}/ not found (broken install?)")


def sdk_dir() -> pathlib.Path:
    """The SDK root (``c/edgehost.h``, ``rust/``)."""
    return _pick("sdk")


def examples_dir() -> pathlib.Path:
    """The bundled example tenants."""
    return _pick("examples")


def cache_dir() -> pathlib.Path:
    """Per-user cache for builds the user did not ask to place (demo, benchmarks)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = pathlib.Path(base) / "edgehost"
    path.mkdir(parents=True, exist_ok=True)
    return path
