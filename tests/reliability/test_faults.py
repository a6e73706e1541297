"""Faults injected into what exists on main today: a full disk while a build
writes its output, a guest handle retired while calls are in flight, a guest
that hangs while booting, a tenant's module replaced or removed under a
loaded tenant. Each ends with a clear error (one line) and no lost or
corrupted state. (Serving, the kv store and hot reload extend this file as
they land: a worker killed mid-request, a full disk under the kv store and
the module cache, a watched directory that disappears, the kv server going
away.) Guest faults are in kvm/test_guest_faults.py, under the KVM gate."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from edgehost.cli.main import cli
from edgehost.errors import ConfigError
from edgehost.runtime.tenant import load
from tests.support import EXAMPLES, fill_filesystem, record, small_filesystem


def _cli(*args):
    res = CliRunner().invoke(cli, list(args), prog_name="edgehost")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"traceback from edgehost {args}: {res.exception!r}")
    return res.exit_code, res.stderr


def test_full_disk_during_a_build_keeps_the_old_module(tmp_path, c_toolchain):
    mnt = tmp_path / "disk"
    with small_filesystem(mnt, "512k"):
        d = mnt / "hello-c"
        shutil.copytree(EXAMPLES / "hello-c", d, ignore=shutil.ignore_patterns("*.wasm"))
        assert _cli("build", str(d))[0] == 0
        old = (d / "hello-c.wasm").read_bytes()
        before = sorted(p.name for p in d.iterdir())
        filler = fill_filesystem(mnt)
        (d / "hello.c").write_text((d / "hello.c").read_text() + "\n/* changed */\n")
        code, err = _cli("build", str(d))
        lines = err.strip().splitlines()
        record("fault", fault="disk full while `edgehost build` writes the module",
               outcome=lines[-1] if lines else f"exit {code}")
        # the compiler's own output (if any), then exactly one line of ours
        ours = [ln for ln in lines if ln.startswith("edgehost: error: ")]
        assert code != 0 and len(ours) == 1 and ours[0] == lines[-1], err
        assert (d / "hello-c.wasm").read_bytes() == old       # not truncated, not replaced
        assert sorted(p.name for p in d.iterdir()) == before  # no temporary file left behind
        assert load(d).call("hello", b"").status == 0         # the old module still serves
        filler.unlink()
        assert _cli("build", str(d))[0] == 0                  # and with room, it builds


def test_module_replaced_or_removed_under_a_loaded_tenant(tmp_path, c_toolchain):
    """A loaded tenant keeps its compiled module: truncating, corrupting or
    deleting the file on disk changes nothing for it; loading it again gives
    one clear error."""
    d = tmp_path / "hello-c"
    shutil.copytree(EXAMPLES / "hello-c", d, ignore=shutil.ignore_patterns("*.wasm"))
    assert _cli("build", str(d))[0] == 0
    t = load(d)
    wasm = d / "hello-c.wasm"
    for damage, needle in [(lambda: wasm.write_bytes(wasm.read_bytes()[:100]),
                            "not a valid WebAssembly module"),
                           (lambda: wasm.write_bytes(b"\0" * 4096), "not a valid WebAssembly"),
                           (wasm.unlink, "not built yet")]:
        damage()
        assert t.call("hello", b"").status == 0
        with pytest.raises(ConfigError, match=needle):
            load(d)
    record("fault", fault="module truncated, zeroed, deleted under a loaded tenant",
           outcome="the loaded version serves; a new load is one ConfigError")
