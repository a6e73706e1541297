"""``edgehost build``: tenant sources -> validated ``.wasm`` next to the manifest.

A build is skipped when the module is up to date: newer than every input
(sources, the manifest, the SDK), or carrying the stamp of exactly these
inputs. The stamp is a custom section (``edgehost.build``) in the module: a
hash of the build-relevant manifest fields (name, language, sources, wasm),
of every input file's name and contents and of the compiler; so an edit to
``[config]``, ``[routes]`` or ``[limits]`` alone, or a touched file, does not
recompile. The result is compiled and checked against the ABI before it is
written in place, so a broken build never replaces a good one.

A failed build raises :class:`~edgehost.errors.BuildError` carrying the
compiler's whole output (every error and warning, naming the tenant's own
files: the compiler runs in the tenant's directory); a build that succeeds
with warnings hands them to ``report``.

Where a build writes and reads: the module goes to the manifest's ``wasm``,
which must lie inside the tenant's directory (after resolving links), or
into ``out_dir`` when the caller names one. Sources outside the tenant's
directory are refused unless the caller opts in (``allow_outside_sources``,
``edgehost build --allow-outside-sources``): a tenant folder from elsewhere
cannot make a build read or write anywhere else on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import tempfile
from collections.abc import Callable

from edgehost import paths
from edgehost.errors import ConfigError, ToolchainMissing
from edgehost.reload.wasm_binary import uleb
from edgehost.toolchain import compilers as toolchain
from edgehost.wasm_config import manifest as manifest_mod

RUST_SDK_CRATE = "edgehost_sdk"
STAMP_SECTION = "edgehost.build"
log = logging.getLogger("edgehost.build")


def _sdk_inputs(lang: str) -> list[pathlib.Path]:
    sdk = paths.sdk_dir()
    if lang == "c":
        return sorted((sdk / "c").glob("*.[ch]"))
    return sorted((sdk / "rust" / "src").rglob("*.rs"))


def _tenant_inputs(man: manifest_mod.Manifest) -> list[pathlib.Path]:
    """The manifest's sources, plus every module of a Rust crate (``mod x;``
    files live next to the crate root or below it)."""
    if man.language == "rust" and man.sources:
        return sorted(set(man.sources) | set(man.sources[0].parent.rglob("*.rs")))
    return list(man.sources)


def _up_to_date(man: manifest_mod.Manifest, out: pathlib.Path) -> bool:
    if not out.exists():
        return False
    mtime = out.stat().st_mtime
    inputs = [man.path, *_tenant_inputs(man), *_sdk_inputs(man.language)]
    if all(p.exists() and p.stat().st_mtime <= mtime for p in inputs):
        return True
    try:
        return read_stamp(out.read_bytes()) == inputs_stamp(man)
    except (OSError, ToolchainMissing):
        return False


def stale(path: str | pathlib.Path) -> bool:
    """Whether the tenant's module is missing or older than its sources
    (what ``edgehost build`` would rebuild)."""
    man = manifest_mod.load(path)
    return bool(man.sources) and not _up_to_date(man, man.wasm)


def inputs_stamp(man: manifest_mod.Manifest) -> str:
    """Hash of everything a build of ``man`` reads (see the module docstring)."""
    h = hashlib.sha256()
    def name(p: pathlib.Path, base: pathlib.Path) -> str:
        return p.relative_to(base).as_posix() if p.is_relative_to(base) else str(p)

    fields = {"name": man.name, "language": man.language, "wasm": man.wasm.name,
              "sources": [name(s, man.directory) for s in man.sources],
              "compiler": toolchain.require(man.language).detail,
              "flags": toolchain.C_FLAGS if man.language == "c" else toolchain.RUST_FLAGS}
    h.update(json.dumps(fields, sort_keys=True).encode())
    sdk = paths.sdk_dir()
    for p in _tenant_inputs(man):
        h.update(b"\0" + name(p, man.directory).encode() + b"\0" + p.read_bytes())
    for p in _sdk_inputs(man.language):
        h.update(b"\0sdk/" + name(p, sdk).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def add_stamp(wasm: bytes, stamp: str) -> bytes:
    """``wasm`` with a trailing custom section holding ``stamp``."""
    name = STAMP_SECTION.encode()
    body = uleb(len(name)) + name + stamp.encode()
    return wasm + b"\0" + uleb(len(body)) + body


def read_stamp(wasm: bytes) -> str | None:
    """The stamp :func:`add_stamp` appended (the module's last section), or None."""
    name = STAMP_SECTION.encode()
    tail = uleb(len(name)) + name
    at = wasm.rfind(tail)
    if at < 0 or len(wasm) - at - len(tail) != 64:
        return None
    return wasm[at + len(tail):].decode("ascii", errors="replace")


def rust_sdk_rlib() -> pathlib.Path:
    """The SDK crate compiled for wasm32, cached under a key made of its
    sources, the compiler and the flags; written by rename, so concurrent
    builds never see a half-written or stale rlib."""
    sdk = paths.sdk_dir() / "rust"
    extra = [f"--remap-path-prefix={sdk}=sdk/rust"]
    key = hashlib.sha256(repr((toolchain.require("rust").detail, extra)).encode())
    for p in _sdk_inputs("rust"):
        key.update(p.relative_to(sdk).as_posix().encode() + b"\0" + p.read_bytes())
    root = paths.cache_dir() / "rust-sdk"
    out_dir = root / key.hexdigest()[:20]
    rlib = out_dir / f"lib{RUST_SDK_CRATE}.rlib"
    if rlib.exists():
        return rlib
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        built = toolchain.compile_rust_lib(sdk / "src" / "lib.rs", pathlib.Path(tmp),
                                           crate_name=RUST_SDK_CRATE, extra=extra)
        out_dir.mkdir(exist_ok=True)
        os.replace(built, rlib)
    return rlib


def build(path: str | pathlib.Path, *, out_dir: pathlib.Path | None = None,
          force: bool = False, allow_outside_sources: bool = False,
          report: Callable[[str], None] | None = None) -> tuple[pathlib.Path, bool]:
    """Build the tenant at ``path``; return (module path, whether it was rebuilt).

    ``report`` receives the compiler's output when a successful build printed
    any (warnings); by default it is logged as a warning."""
    man = manifest_mod.load(path)
    out = (out_dir / man.wasm.name) if out_dir else man.wasm
    if out_dir is None and not out.resolve().is_relative_to(man.directory.resolve()):
        raise ConfigError(f"{out} is outside the tenant's directory", path=str(man.path),
                          field="wasm")
    outside = man.sources_outside()
    if outside and not allow_outside_sources:
        raise ConfigError(f"source {outside[0]} is outside the tenant's directory (build with "
                          "--allow-outside-sources to read it)", path=str(man.path),
                          field="sources")
    if not force and _up_to_date(man, out):
        return out, False
    if not man.sources:
        if out.is_file():  # a prebuilt module (no sources): nothing to rebuild
            return out, False
        raise ConfigError("nothing to build", path=str(man.path), field="sources")
    for src in man.sources:
        if not src.exists():
            raise ConfigError(f"source {src.name} does not exist", path=str(man.path),
                              field="sources")
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = inputs_stamp(man)
    # A dot-name that is not *.wasm: watchers of the directory ignore it until
    # the rename puts the whole module in place.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".build", dir=out.parent)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        if man.language == "c":
            output = toolchain.compile_c(man.sources, tmp,
                                         [paths.sdk_dir() / "c", man.directory],
                                         cwd=man.directory, name=man.name)
        else:
            # Messages and panics name files relative to the tenant, not this machine.
            output = toolchain.compile_rust(
                man.sources[0], tmp, rust_sdk_rlib(), crate_name=man.name.replace("-", "_"),
                extra=[f"--remap-path-prefix={man.directory}={man.name}"], name=man.name)
        tmp.write_bytes(add_stamp(tmp.read_bytes(), stamp))
        _validate(tmp, man)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    if output.strip():
        (report or (lambda text: log.warning("%s: compiler output:\n%s", man.name,
                                             text.rstrip())))(output)
    return out, True


def _validate(wasm: pathlib.Path, man: manifest_mod.Manifest) -> None:
    from edgehost.runtime import engine
    from edgehost.runtime.tenant import check_memory_count
    from edgehost.wasm_config import validate

    data = wasm.read_bytes()
    module = engine.shared(fuel=man.limits["fuel"] > 0).compile(data)
    validate.check_module(module, where=f"{man.name} (fresh build)")
    check_memory_count(data, f"{man.name} (fresh build)")
