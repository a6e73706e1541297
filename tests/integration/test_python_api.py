"""The README's Python API example runs as written and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
import shutil

import edgehost
from tests.support import EXAMPLES, REPO


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- python-api:begin -->", 1)[1].split("<!-- python-api:end -->")[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_example_runs(tmp_path, monkeypatch, c_toolchain):
    shutil.copytree(EXAMPLES / "hello-c", tmp_path / "examples" / "hello-c",
                    ignore=shutil.ignore_patterns("*.wasm"))
    monkeypatch.chdir(tmp_path)
    code = _readme_example()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    http = re.search(r"#\s*(200 .*)$", code, re.M).group(1)
    crc = re.search(r"(0x[0-9a-f]+)$", code, re.M).group(1)
    assert out.getvalue().splitlines() == [http, crc]


def test_public_names():
    for name in edgehost.__all__:
        assert getattr(edgehost, name) is not None, name
    assert edgehost.load is edgehost.runtime.tenant.load
    assert issubclass(edgehost.TenantTrap, edgehost.EdgehostError)
