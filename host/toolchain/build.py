"""``edgehost build``: tenant sources -> validated ``.wasm`` next to the manifest.

A build is skipped when the module is newer than every input (sources, the
manifest, the SDK). The result is compiled and checked against the ABI
before it is written in place, so a broken build never replaces a good one.

Where a build writes and reads: the module goes to the manifest's ``wasm``,
which must lie inside the tenant's directory (after resolving links), or
into ``out_dir`` when the caller names one. Sources outside the tenant's
directory are refused unless the caller opts in (``allow_outside_sources``,
``edgehost build --allow-outside-sources``): a tenant folder from elsewhere
cannot make a build read or write anywhere else on disk.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile

from edgehost import paths
from edgehost.errors import ConfigError
from edgehost.toolchain import compilers as toolchain
from edgehost.wasm_config import manifest as manifest_mod

RUST_SDK_CRATE = "edgehost_sdk"


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
    return all(p.exists() and p.stat().st_mtime <= mtime for p in inputs)


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
          force: bool = False, allow_outside_sources: bool = False) -> tuple[pathlib.Path, bool]:
    """Build the tenant at ``path``; return (module path, whether it was rebuilt)."""
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
        raise ConfigError("nothing to build", path=str(man.path), field="sources")
    for src in man.sources:
        if not src.exists():
            raise ConfigError(f"source {src.name} does not exist", path=str(man.path),
                              field="sources")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".wasm", dir=out.parent)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        if man.language == "c":
            toolchain.compile_c(man.sources, tmp, [paths.sdk_dir() / "c", man.directory])
        else:
            # Panic messages name files relative to the tenant, not this machine.
            toolchain.compile_rust(man.sources[0], tmp, rust_sdk_rlib(),
                                   crate_name=man.name.replace("-", "_"),
                                   extra=[f"--remap-path-prefix={man.directory}={man.name}"])
        _validate(tmp, man)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out, True


def _validate(wasm: pathlib.Path, man: manifest_mod.Manifest) -> None:
    from edgehost.runtime import engine
    from edgehost.wasm_config import validate

    module = engine.shared(fuel=man.limits["fuel"] > 0).compile(wasm.read_bytes())
    validate.check_module(module, where=f"{man.name} (fresh build)")
