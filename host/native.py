"""The one place that loads the cffi extension and initialises it.

Everything native is reached through ``ffi``/``lib`` from here so that
initialisation (kernel dispatch tables, wasmtime binding) happens exactly once.
"""

from __future__ import annotations

import threading

from edgehost.errors import EdgehostError

try:
    from edgehost.native_modules._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise EdgehostError(
        f"native extension not built ({exc}); reinstall with: pip install -e ."
    ) from exc

_lock = threading.Lock()
_kernels_ready = False


def kernels_lib():
    """Return ``lib`` with the kernel dispatch tables initialised."""
    global _kernels_ready
    if not _kernels_ready:
        with _lock:
            if not _kernels_ready:
                lib.eh_kernels_init()
                _kernels_ready = True
    return lib


__all__ = ["ffi", "lib", "kernels_lib"]
