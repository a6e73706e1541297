"""The root of edgehost's typed errors, and the contract's own error.

They live in the contract package so that it depends on nothing in the
runtime; :mod:`edgehost.errors` re-exports them next to the runtime's errors.
Each error carries its data as attributes and renders one line.
"""

from __future__ import annotations


class EdgehostError(Exception):
    """Base of every error edgehost raises on purpose."""

    exit_code = 1


class ConfigError(EdgehostError):
    """A manifest or a .wasm does not satisfy the tenant contract."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path, self.field = path, field
        where = f"{path}: " if path else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")
