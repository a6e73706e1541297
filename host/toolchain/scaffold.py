"""``edgehost new``: a tenant that builds and runs out of the box.

The template is the bundled ``hello-<lang>`` example itself (so the scaffold
can never drift from a tenant the test suite builds), with its name changed.
"""

from __future__ import annotations

import pathlib
import re
import shutil

from edgehost import paths
from edgehost.errors import ConfigError, InputError
from edgehost.wasm_config.manifest import MANIFEST_NAME, NAME_RE


def new(name: str, lang: str, parent: pathlib.Path) -> pathlib.Path:
    """Create ``parent/name`` from the hello-<lang> example; return its path."""
    if not NAME_RE.match(name):
        raise ConfigError("tenant names use lowercase letters, digits, '-' and '_' (max 63)",
                          field="name")
    template = paths.examples_dir() / f"hello-{lang}"
    if not template.is_dir():
        raise InputError(f"no template for language {lang!r}")
    dest = parent / name
    if dest.exists():
        raise InputError(f"{dest} already exists")
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("*.wasm", "target"))
    man = dest / MANIFEST_NAME
    text = re.sub(r'^name = ".*"$', f'name = "{name}"', man.read_text(), count=1,
                  flags=re.MULTILINE)
    man.write_text(text)
    (dest / "README.md").write_text(
        f"# {name}\n\nA new edgehost tenant ({lang}), scaffolded from hello-{lang}.\n\n"
        f"    edgehost build {name}\n    echo -n you | edgehost call {name} hello --input -\n")
    return dest
