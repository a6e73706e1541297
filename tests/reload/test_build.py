"""Builds as the reload loop needs them: the compiler's whole output with the
tenant's own file names, warnings too; a [config] edit does not recompile;
``edgehost call`` rebuilds a module older than its sources, or says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from edgehost.errors import BuildError, ToolchainMissing
from edgehost.toolchain import build
from tests.support import EXAMPLES

pytestmark = pytest.mark.toolchain


def edgehost(*args):
    return subprocess.run([sys.executable, "-m", "edgehost", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def hello(tmp_path, c_toolchain):
    d = tmp_path / "hello-c"
    shutil.copytree(EXAMPLES / "hello-c", d, ignore=shutil.ignore_patterns("*.wasm"))
    return d


def _touch_later(p):
    t = time.time() + 2
    os.utime(p, (t, t))


def test_warnings_are_shown_with_the_tenants_file_names(hello):
    src = hello / "hello.c"
    src.write_text(src.read_text() + "\nstatic int unused_thing;\n")
    proc = edgehost("build", str(hello))
    assert proc.returncode == 0, proc.stderr
    assert "hello.c:" in proc.stderr and "unused_thing" in proc.stderr
    assert "warning" in proc.stderr and str(hello) not in proc.stderr


def test_a_failed_build_carries_every_error(hello):
    (hello / "hello.c").write_text("int a( {\nint b = nope;\n")
    with pytest.raises(BuildError) as exc:
        build.build(hello)
    out = exc.value.output
    assert out.count("error:") >= 2 and "hello.c:1:" in out
    assert "build of hello-c failed" in str(exc.value) and "\n" not in str(exc.value)


def test_a_config_edit_does_not_recompile(hello):
    _, rebuilt = build.build(hello)
    assert rebuilt
    man = hello / "edgehost.toml"
    man.write_text(man.read_text().replace('greeting = "hello"', 'greeting = "hey"'))
    _touch_later(man)
    assert build.build(hello) == (hello / "hello-c.wasm", False)
    (hello / "hello.c").write_text((hello / "hello.c").read_text() + "\n/* edit */\n")
    _touch_later(hello / "hello.c")
    assert build.build(hello)[1] is True


def test_call_rebuilds_a_stale_module(hello):
    assert edgehost("build", str(hello)).returncode == 0
    src = hello / "hello.c"
    src.write_text(src.read_text().replace('"! (visit "', '"!! (visit "'))
    _touch_later(src)
    proc = edgehost("call", str(hello), "hello", "--input", "-")
    assert proc.returncode == 0, proc.stderr
    assert "!! (visit" in proc.stdout and "rebuilt" in proc.stderr


def test_call_says_so_when_it_cannot_rebuild(hello, monkeypatch):
    from click.testing import CliRunner

    from edgehost.cli.main import cli

    build.build(hello)
    src = hello / "hello.c"
    src.write_text(src.read_text() + "\n/* edit */\n")
    _touch_later(src)

    def no_toolchain(*a, **kw):
        raise ToolchainMissing("c -> wasm32 toolchain (clang not found)", "apt-get install clang")

    monkeypatch.setattr(build, "build", no_toolchain)
    res = CliRunner().invoke(cli, ["call", str(hello), "hello"])
    assert res.exit_code == 0
    assert "newer than its module; running the old module" in res.output
