"""Where the host keeps its data: ``--data DIR``, else ``$EDGEHOST_DATA``,
else ``$XDG_DATA_HOME/edgehost``, else ``~/.local/share/edgehost``.

The embedded kv store lives in ``DATA/kv`` (LMDB's ``data.mdb`` and
``lock.mdb``)."""

from __future__ import annotations

import os
import pathlib

from edgehost.errors import StoreError

ENV_DATA = "EDGEHOST_DATA"


def default_data_dir() -> pathlib.Path:
    """The data directory when none is given (not created)."""
    if os.environ.get(ENV_DATA):
        return pathlib.Path(os.environ[ENV_DATA]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return pathlib.Path(base) / "edgehost"


def kv_dir(data: str | os.PathLike | None = None) -> pathlib.Path:
    """``DATA/kv``, created (mode 0700) if missing; StoreError when it cannot be."""
    base = pathlib.Path(data).expanduser() if data is not None else default_data_dir()
    path = base.resolve() / "kv"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(f"lmdb:{path}", f"cannot create the data directory: "
                         f"{exc.strerror or exc}") from None
    if not path.is_dir():
        raise StoreError(f"lmdb:{path}", "not a directory")
    return path
