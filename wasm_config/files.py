"""Reading files a tenant supplies (its manifest, its module) without letting
them hang or exhaust the host: only a regular file of bounded size is read (a
FIFO would block the reader forever, a link to /dev/zero would never end)."""

from __future__ import annotations

import os
import stat

from edgehost.wasm_config.errors import ConfigError


def read_regular(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes;
    else a ConfigError naming it (FileNotFoundError is left to the caller)."""
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, not a regular file", path=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=where) from None
    try:
        st = os.fstat(fd)
        problem = ("is a directory, not a regular file" if stat.S_ISDIR(st.st_mode) else
                   "is not a regular file" if not stat.S_ISREG(st.st_mode) else
                   f"is {st.st_size} bytes, more than the {limit} allowed"
                   if st.st_size > limit else None)
        if problem:
            raise ConfigError(f"{what} {problem}", path=where)
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=where) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while we read it
        raise ConfigError(f"{what} is more than the {limit} bytes allowed", path=where)
    return data


__all__ = ["read_regular"]
