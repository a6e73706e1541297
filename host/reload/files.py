"""A tenant's files as one consistent version: the manifest's text, the
module's bytes, and the version id that names them.

Files are read so that a half-written one is never taken for a version:
each is read between two ``stat`` calls that must agree (size, mtime, inode)
with each other and with the bytes read; otherwise :class:`NotReady` says
"look again later". The watcher only asks once a writer has closed or renamed
the file, or the file has been quiet for a while; this check covers writers
that are still at it then. A module that does not parse is rejected later
(the compile), so a truncated module never runs either.

The version id is content, not time: SHA-256 over the manifest's text, the
module's bytes and the golden requests' bodies. Rewriting a file with the
same bytes (a ``touch``, a repeated deploy) is no new version.

A manifest changes far more often than its module (a ``[config]`` edit), and
hashing a module of megabytes takes milliseconds, so :func:`read` may take
the module's bytes and hash from an earlier reading of the same directory:
only when a ``stat`` of the module now equals the one taken then (size,
mtime, ctime, inode, device) and that reading was not *racy* -- the file's
last change was over :data:`RACY_S` older than the reading, so any later
write carries a later timestamp, however coarse the filesystem's clock
(git's "racily clean" rule).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import stat
import time

from edgehost.errors import ConfigError
from edgehost.wasm_config import manifest as manifest_mod

MAX_MODULE_BYTES = 256 << 20
RACY_S = 2.0   # longer than any filesystem's timestamp granularity (FAT: 2 s)


class NotReady(Exception):
    """A file changed while it was read (a writer is still writing it)."""


def read_stable(path: pathlib.Path, *, limit: int = MAX_MODULE_BYTES) -> tuple[bytes, float]:
    """The bytes of ``path`` and its mtime, read between two agreeing stats.
    FileNotFoundError when it is absent; ConfigError when it is not a regular
    file or too large; NotReady when it changed meanwhile."""
    data, st = _read_stable(path, limit)
    return data, st.st_mtime


def _read_stable(path: pathlib.Path, limit: int) -> tuple[bytes, os.stat_result]:
    # O_NONBLOCK: a FIFO in the file's place must not hang the reader.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st1 = os.fstat(fd)
        if not stat.S_ISREG(st1.st_mode):
            raise ConfigError("not a regular file", path=str(path))
        if st1.st_size > limit:
            raise ConfigError(f"{st1.st_size} bytes: larger than {limit}", path=str(path))
        # Up to one byte more than its size (a file that grew is seen), no more.
        chunks, want = [], st1.st_size + 1
        while want > 0:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    st2 = os.stat(path)
    key1 = (st1.st_size, st1.st_mtime_ns, st1.st_ino)
    key2 = (st2.st_size, st2.st_mtime_ns, st2.st_ino)
    if key1 != key2 or len(data) != st2.st_size or not data:
        # Changed while read, or empty: a writer that truncated it is not done.
        raise NotReady(str(path))
    return data, st2


def parse_manifest(text: str, path: pathlib.Path) -> manifest_mod.Manifest:
    """Validate manifest ``text`` as if it were read from ``path`` (the
    contract's own parser: a reload judges a manifest as a start does)."""
    return manifest_mod.loads(text, path)


@dataclasses.dataclass(frozen=True)
class TenantFiles:
    """One consistent reading of a tenant directory."""

    directory: pathlib.Path
    manifest_text: str
    manifest: manifest_mod.Manifest
    wasm: bytes
    wasm_sha256: str
    version: str           # content hash: see the module docstring
    in_place_at: float     # the newest mtime of the files read (when this version was written)
    wasm_stat: tuple = ()  # the module's stat key when it may be reused (see the docstring)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version_files(self) -> tuple[str, str]:
        """The manifest's and the module's paths relative to the tenant's
        directory (what the watcher waits on, see Watcher.expect)."""
        m = self.manifest
        return m.path.name, str(m.wasm.relative_to(m.path.parent))


def version_of(manifest_text: str, wasm_sha256: str, manifest: manifest_mod.Manifest) -> str:
    h = hashlib.sha256(b"manifest\0" + manifest_text.encode() + b"\0module\0"
                       + wasm_sha256.encode())
    for c in manifest.checks:
        h.update(b"\0check\0" + c.body)
    return h.hexdigest()[:16]


def _stat_key(st: os.stat_result) -> tuple:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def _module(path: pathlib.Path, known: TenantFiles | None) -> tuple[bytes, str, float, tuple]:
    """(bytes, sha256, mtime, reusable stat key or ()) of the module at ``path``."""
    if known is not None and known.wasm_stat and known.manifest.wasm == path:
        st = os.stat(path)
        if _stat_key(st) == known.wasm_stat:
            return known.wasm, known.wasm_sha256, st.st_mtime, known.wasm_stat
    wasm, st = _read_stable(path, MAX_MODULE_BYTES)
    racy = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_S * 1e9
    return wasm, hashlib.sha256(wasm).hexdigest(), st.st_mtime, () if racy else _stat_key(st)


def read(directory: str | os.PathLike, *, known: TenantFiles | None = None) -> TenantFiles:
    """Read the tenant in ``directory`` (FileNotFoundError: no manifest there).
    ``known``: an earlier reading of it, whose module bytes and hash are taken
    again when the module provably did not change (see the module docstring)."""
    d = pathlib.Path(directory)
    mpath = d / manifest_mod.MANIFEST_NAME
    raw, m_mtime = read_stable(mpath, limit=1 << 20)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                          path=str(mpath)) from None
    man = parse_manifest(text, mpath)
    try:
        wasm, sha, w_mtime, w_stat = _module(man.wasm, known)
    except FileNotFoundError:
        raise ConfigError("module not built yet; run: edgehost build "
                          f"{man.directory}", path=str(man.wasm)) from None
    return TenantFiles(d.resolve(), text, man, wasm, sha, version_of(text, sha, man),
                       max(m_mtime, w_mtime), w_stat)


# Manifest fields whose change needs no new module (a config-only change
# reconfigures the compiled module; everything else reloads the tenant).
CONFIG_ONLY_FIELDS = ("config", "checks", "description")


def config_only_change(old: TenantFiles, new: TenantFiles) -> bool:
    """Whether ``new`` differs from ``old`` in the configuration alone."""
    if old.wasm_sha256 != new.wasm_sha256:
        return False
    a, b = dataclasses.asdict(old.manifest), dataclasses.asdict(new.manifest)
    for f in CONFIG_ONLY_FIELDS:
        a.pop(f, None)
        b.pop(f, None)
    return a == b
