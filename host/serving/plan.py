"""Which tenants a server serves and where their routes go.

A tenant's routes are mounted at ``prefix + route`` (prefix defaults to
``/<name>``; handlers see the path without it) and answered for its ``host``
(default: any Host). Two tenants claiming one (host, path), or sharing a
name, are a :class:`~edgehost.errors.ConfigError` at load time.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

from edgehost import paths
from edgehost.errors import ConfigError, ToolchainMissing
from edgehost.toolchain import build
from edgehost.wasm_config import manifest as manifest_mod

log = logging.getLogger("edgehost.serving")


@dataclasses.dataclass(frozen=True)
class Route:
    host: str       # "" = any host
    path: str       # full path, prefix included
    strip: int      # leading bytes the handler does not see (the prefix)
    tenant: str
    export: str


def tenant_dirs(dirs: list[str | pathlib.Path]) -> list[pathlib.Path]:
    """Tenant directories: each DIR is a tenant (it has an edgehost.toml) or
    holds tenants one level down."""
    out: list[pathlib.Path] = []
    for d in dirs:
        p = pathlib.Path(d).resolve()
        if (p / manifest_mod.MANIFEST_NAME).is_file():
            out.append(p)
        elif p.is_dir():
            found = sorted(m.parent for m in p.glob(f"*/{manifest_mod.MANIFEST_NAME}"))
            if not found:
                raise ConfigError(f"no tenants here (no */{manifest_mod.MANIFEST_NAME})",
                                  path=str(p))
            out.extend(found)
        else:
            raise ConfigError("no such directory", path=str(p))
    return out


def bundled_examples() -> pathlib.Path:
    """A writable copy of the bundled examples (what ``edgehost serve`` serves
    with no directory), shared with ``edgehost demo``."""
    from edgehost.cli.demo import _workdir

    paths.examples_dir()  # a broken install fails here with a clear error
    return _workdir()


def prepare(dirs: list[pathlib.Path], *, skip_unbuildable: bool) -> list[pathlib.Path]:
    """Build each tenant whose module is missing or older than its sources.

    A tenant whose toolchain is missing keeps an existing module; without one
    it is skipped with a warning when ``skip_unbuildable`` (the bundled
    examples), else it is an error."""
    ready = []
    for d in dirs:
        man = manifest_mod.load(d)
        try:
            build.build(d)
        except ToolchainMissing as exc:
            if man.wasm.is_file():
                log.warning("%s: %s; serving the existing %s", man.name, exc, man.wasm.name)
            elif skip_unbuildable:
                log.warning("%s: not served: %s", man.name, exc)
                continue
            else:
                raise
        ready.append(d)
    return ready


def routes(manifests: list[manifest_mod.Manifest]) -> list[Route]:
    """Every route of ``manifests``; raises ConfigError on a clash."""
    names: dict[str, pathlib.Path] = {}
    taken: dict[tuple[str, str], str] = {}
    out = []
    for man in manifests:
        if man.name in names:
            raise ConfigError(f"tenant name {man.name!r} is also used by {names[man.name]}",
                              path=str(man.path), field="name")
        names[man.name] = man.path
        for route, export in man.routes.items():
            full = man.prefix + route if man.prefix else route
            key = (man.host, full)
            if key in taken:
                raise ConfigError(f"route {man.host or '*'}{full} is also claimed by tenant "
                                  f"{taken[key]!r}", path=str(man.path), field=f"routes.{route}")
            taken[key] = man.name
            out.append(Route(man.host, full, len(man.prefix), man.name, export))
    return out
