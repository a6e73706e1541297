"""``edgehost watch DIR``: an edited source rebuilds its tenant and the new
version answers; a build error prints the compiler's whole output and the
old version keeps answering; a [config] edit reconfigures without a build."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.reload import support
from tests.support import EXAMPLES, Load, Server, get

pytestmark = pytest.mark.toolchain


class Watch(Server):
    def __init__(self, *dirs, **kw):
        super().__init__(*dirs, **kw)
        self.args[self.args.index("serve")] = "watch"


def _hello(s) -> bytes:
    return get(s.port, "/hello-c/hello", method="POST", body=b"w")[2]


def test_watch_rebuilds_on_source_changes_and_keeps_serving_on_errors(tmp_path, c_toolchain):
    d = tmp_path / "hello-c"
    shutil.copytree(EXAMPLES / "hello-c", d, ignore=shutil.ignore_patterns("*.wasm"))
    src, man = d / "hello.c", d / "edgehost.toml"
    with Watch(tmp_path) as s:
        assert _hello(s).startswith(b"hello, w! (visit")
        with Load(s.port, "/hello-c/hello", clients=2) as load:
            support.write_in_place(src, src.read_text().replace('", ", 2', '"; ", 2'))
            assert support.wait_for(lambda: _hello(s).startswith(b"hello; w!"), timeout=120)
            good = src.read_text()
            support.write_in_place(src, good + "\nint broken(void) { return nope; }\n")
            assert support.wait_for(lambda: "use of undeclared identifier 'nope'" in s.log(),
                                    timeout=120)
            assert _hello(s).startswith(b"hello; w!")
            support.write_in_place(src, good.replace('"; ", 2', '": ", 2'))
            assert support.wait_for(lambda: _hello(s).startswith(b"hello: w!"), timeout=120)
            wasm_mtime = (d / "hello-c.wasm").stat().st_mtime_ns
            support.write_in_place(man, man.read_text().replace('greeting = "hello"',
                                                                'greeting = "hey"'))
            assert support.wait_for(lambda: _hello(s).startswith(b"hey: w!"), timeout=60)
            time.sleep(0.5)
            assert (d / "hello-c.wasm").stat().st_mtime_ns == wasm_mtime   # not rebuilt
        assert load.failures() == []
    log = s.log()
    assert "hello.c:" in log and "error" in log          # the compiler's own lines
    assert "reload of tenant hello-c rejected" in log
