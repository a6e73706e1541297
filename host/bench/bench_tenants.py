"""Built copies of tenants for the benchmarks that serve them.

Each benchmark run works in a directory of its own (two runs at once must
not build into each other's tenants), but compiling the same example again
on every run is most of a ``--quick`` run's set-up (the Rust example alone
takes ~2 s). So the module a build produced is kept in the cache under the
copy's name, put next to a later copy's manifest, and ``edgehost build``
keeps it only where its stamp (a hash of the sources, the build-relevant
manifest fields and the compiler: see :mod:`edgehost.toolchain.build`) says
it was built from exactly these inputs; anything else rebuilds.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import tempfile

from edgehost import paths


def _cache() -> pathlib.Path:
    d = paths.cache_dir() / "bench-tenants"
    d.mkdir(parents=True, exist_ok=True)
    return d


def built_copy(src: pathlib.Path, dest: pathlib.Path, *, name: str | None = None,
               fields: dict[str, str] | None = None) -> pathlib.Path:
    """Copy the tenant in ``src`` to ``dest`` (which must not exist), rename it
    ``name`` and add the top-level manifest ``fields`` (string values), build
    it and return ``dest``. Raises what ``edgehost build`` raises
    (ToolchainMissing where a compiler is missing)."""
    from edgehost.toolchain import build
    from edgehost.wasm_config import manifest as manifest_mod

    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.wasm", "target"))
    man_path = dest / "edgehost.toml"
    if name is not None or fields:
        extra = "".join(f'\n{k} = "{v}"' for k, v in (fields or {}).items())
        text = man_path.read_text()
        head = f'name = "{name}"' if name is not None else r"\g<0>"
        man_path.write_text(re.sub(r'^name = ".*"$', head + extra, text, count=1, flags=re.M))
    man = manifest_mod.load(dest)
    cached = _cache() / f"{man.name}.wasm"
    if cached.is_file():
        shutil.copyfile(cached, man.wasm)
        os.utime(man.wasm, (0, 0))  # older than any input: only its stamp can keep it
    out, rebuilt = build.build(dest)
    if rebuilt or not cached.is_file():
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        os.close(fd)
        shutil.copyfile(out, tmp)
        os.replace(tmp, cached)  # whole or not at all: a concurrent run reads either
    return dest
