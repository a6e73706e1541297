"""Helpers of the hot-reload tests: tenants whose versions are told apart by
their answers (modules from WAT text, so no toolchain is needed), written
into directories the way deploy tools write them, and waiting for a state."""

from __future__ import annotations

import os
import pathlib
import tempfile
import time

from edgehost.bench._reload_tenant import (  # noqa: F401 (re-exported for the tests)
    _WAT,
    EXPENSIVE,
    LOOP,
    REFUSE,
    TRAP,
    answer,
    manifest,
    module,
)
from tests.support import wait_for  # noqa: F401 (re-exported: tests/reload call support.wait_for)


def write_atomic(path: pathlib.Path, data: bytes | str) -> None:
    """Write like a deploy tool: a temporary file in the same folder, renamed into place."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=".deploy-", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, path)


def write_in_place(path: pathlib.Path, data: bytes | str, *, pieces: int = 1,
                   pause_s: float = 0.0) -> None:
    """Write like an editor or ``cp``: truncate and write the same file, in pieces."""
    raw = data.encode() if isinstance(data, str) else data
    step = max(1, -(-len(raw) // pieces))
    with open(path, "wb") as fh:
        for at in range(0, len(raw), step):
            fh.write(raw[at:at + step])
            fh.flush()
            if pause_s:
                time.sleep(pause_s)


def make_tenant(root: pathlib.Path, name: str = "gen", *, version: str = "v1",
                greeting: str = "g1", checks: str = "", extra: str = "",
                wasm: bytes | None = None, isolation: str = "inproc") -> pathlib.Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.wasm").write_bytes(wasm if wasm is not None else module(version))
    (d / "edgehost.toml").write_text(manifest(name, greeting=greeting, checks=checks,
                                              extra=extra, isolation=isolation))
    return d


