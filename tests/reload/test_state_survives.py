"""A hot reload keeps the tenant's state (issue 13 #3): hello-c counts its
visits in kv; a new version -- a config-only change, then a rebuilt module --
goes on counting where the old one stopped, on the embedded default store."""

from __future__ import annotations

import re
import shutil

from edgehost.reload import Registry
from edgehost.toolchain import build
from tests.reload import support
from tests.support import EXAMPLES


def _visit(reg) -> tuple[bytes, int]:
    body = reg.call("hello-c", "hello", b"you").body
    m = re.fullmatch(rb"(.*)([,;]) you! \(visit (\d+)\)", body)
    assert m, body
    return m.group(1) + m.group(2), int(m.group(3))


def _version(reg) -> str:
    return reg.status()["hello-c"]["version"]


def test_a_reloaded_tenant_keeps_counting(tmp_path, c_toolchain):
    tenant = tmp_path / "hello-c"
    shutil.copytree(EXAMPLES / "hello-c", tenant, ignore=shutil.ignore_patterns("*.wasm"))
    build.build(tenant)
    manifest = tenant / "edgehost.toml"
    with Registry(tmp_path) as reg:
        assert [_visit(reg) for _ in range(3)] == [(b"hello,", 1), (b"hello,", 2),
                                                   (b"hello,", 3)]

        first = _version(reg)
        text = manifest.read_text().replace('greeting = "hello"', 'greeting = "hi"')
        support.write_atomic(manifest, text)
        assert support.wait_for(lambda: _version(reg) != first), reg.status()
        assert _visit(reg) == (b"hi,", 4)  # a config-only version, same store

        second = _version(reg)
        source = tenant / "hello.c"
        source.write_text(source.read_text().replace('", "', '"; "', 1))
        build.build(tenant)  # a new module, written in place
        assert support.wait_for(lambda: _version(reg) != second), reg.status()
        assert _visit(reg) == (b"hi;", 5)  # the new module's answer, same count
