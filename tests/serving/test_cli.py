"""`edgehost serve` refuses bad input with one line and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


def _serve(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "edgehost", "serve", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(r):
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgehost: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_bad_listen_address():
    assert "--listen" in _one_error_line(_serve("--listen", "nonsense"))


def test_an_address_it_cannot_listen_on_is_reported_before_any_build(tmp_path):
    # A tenant that cannot build: were it built first, its error would be the one line.
    t = tmp_path / "broken"
    t.mkdir()
    (t / "edgehost.toml").write_text('name = "broken"\nlanguage = "c"\nsources = ["b.c"]\n')
    (t / "b.c").write_text("this is not C\n")
    line = _one_error_line(_serve(tmp_path, "--listen", "999.1.1.1:80"))
    assert "cannot listen on 999.1.1.1:80" in line


def test_missing_directory(tmp_path):
    assert "no such directory" in _one_error_line(_serve(tmp_path / "nope"))


def test_directory_without_tenants(tmp_path):
    assert "no tenants here" in _one_error_line(_serve(tmp_path))


@pytest.mark.toolchain
def test_port_in_use(serve_tenants):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert "cannot listen" in _one_error_line(
            _serve(serve_tenants, "--listen", f"127.0.0.1:{port}"))


@pytest.mark.toolchain
def test_route_clash(serve_tenants, tmp_path):
    import shutil

    for name in ("probe", "vhost"):
        shutil.copytree(serve_tenants / name, tmp_path / name)
    man = tmp_path / "vhost" / "edgehost.toml"
    man.write_text(man.read_text().replace('host = "api.example.test"\nprefix = ""',
                                           'prefix = "/probe"'))
    assert "also claimed by tenant 'probe'" in _one_error_line(_serve(tmp_path))


@pytest.mark.toolchain
def test_port_held_by_another_edgehost(serve_tenants):
    from tests.support import Server

    with Server(serve_tenants) as s:
        line = _one_error_line(_serve(serve_tenants, "--listen", f"127.0.0.1:{s.port}"))
        assert "cannot listen" in line
