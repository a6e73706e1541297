"""A change to the manifest alone (such as ``[config]``) takes the live
version's compiled, checked module as it is -- from its configured form even
when its snapshot form serves -- and still instantiates, configures and
checks the new version before it may take traffic; a different module or
fuel setting is compiled as before. In ``edgehost serve`` a lone worker
commits what it prepared on one message and keeps the old version when the
new one fails."""

from __future__ import annotations

import json
import os

import pytest

from edgehost.kernels.crc32c import crc32c
from edgehost.reload import files, pipeline
from tests.reload import support
from tests.support import Load, Server, get


def _hello(loaded) -> bytes:
    return loaded.tenant.call("hello", b"").body


def _change(d, **kw) -> files.TenantFiles:
    (d / "edgehost.toml").write_text(support.manifest("gen", **kw))
    return files.read(d)


@pytest.fixture
def live(tmp_path):
    d = support.make_tenant(tmp_path, "gen", version="v1")
    loaded = pipeline.load(files.read(d))
    yield d, loaded
    loaded.close()


def test_a_config_change_reuses_the_module_and_runs_configure_again(live):
    d, v1 = live
    v2 = pipeline.load(_change(d, greeting="g2"), like=v1)
    try:
        assert v2.tenant.module is v1.tenant.module          # not compiled, not checked again
        assert _hello(v2) == support.answer("v1", "g2")      # configured with the new config
        assert _hello(v1) == support.answer("v1", "g1")      # the old version is untouched
    finally:
        v2.close()


def test_the_snapshot_form_hands_on_its_configured_module(live):
    d, v1 = live
    snap = pipeline.snapshot_form(v1)
    try:
        assert snap.tenant.module is not v1.tenant.module
        v2 = pipeline.load(_change(d, greeting="g3"), like=snap)
        try:
            # the snapshot's module has no configure: the configured form's is reused
            assert v2.tenant.module is v1.tenant.module
            assert _hello(v2) == support.answer("v1", "g3")
        finally:
            v2.close()
    finally:
        snap.close()


def test_checks_still_judge_a_config_change(live):
    d, v1 = live
    want = crc32c(support.answer("v1", "g1"))
    check = f'\n[[check]]\nname = "g1 only"\npath = "/hello"\nexpect_crc32c = "{want:08x}"\n'
    with pytest.raises(pipeline.Rejected, match="check 'g1 only' failed"):
        pipeline.load(_change(d, greeting="g4", checks=check), like=v1)


@pytest.mark.parametrize("change", ["module", "fuel"])
def test_another_module_or_fuel_setting_is_compiled(live, change):
    d, v1 = live
    if change == "module":
        (d / "gen.wasm").write_bytes(support.module("v2"))
        tf = files.read(d)
    else:
        tf = _change(d, extra="[limits]\nfuel = 100000000")
    v2 = pipeline.load(tf, like=v1)
    try:
        assert v2.tenant.module is not v1.tenant.module
        assert v2.tenant.engine.fuel == (change == "fuel")
        assert _hello(v2) == support.answer("v2" if change == "module" else "v1")
    finally:
        v2.close()


def _status(s) -> dict:
    return json.loads(get(s.admin_port, "/status")[2])["versions"]["gen"]


def _answers(s, want: bytes) -> bool:
    return bool(support.wait_for(lambda: get(s.port, "/gen/hello")[2] == want, timeout=60))


def test_a_lone_worker_commits_what_it_prepared_and_keeps_the_old_on_failure(tmp_path):
    d = support.make_tenant(tmp_path, "gen", version="v1")
    man = d / "edgehost.toml"
    bad_check = '\n[[check]]\nname = "never"\npath = "/hello"\nexpect_body = "nope"\n'
    with Server(tmp_path, workers=1) as s:
        with Load(s.port, "/gen/hello", clients=3) as load:
            support.write_atomic(man, support.manifest("gen", greeting="g2"))
            assert _answers(s, support.answer("v1", "g2"))
            support.write_atomic(man, support.manifest("gen", greeting="g3", checks=bad_check))
            assert support.wait_for(lambda: _status(s)["rejected"] == 1, timeout=60)
            assert "check 'never' failed" in _status(s)["last_error"]["reason"]
            assert get(s.port, "/gen/hello")[2] == support.answer("v1", "g2")
            support.write_atomic(man, support.manifest("gen", greeting="g2"))  # the live one
            support.write_atomic(d / "gen.wasm", support.module("v2"))
            assert _answers(s, support.answer("v2", "g2"))
        assert load.failures() == [] and len(load.results) > 50, load.failures()[:5]
        # the master records a switch once its worker replied, just after traffic moved
        assert support.wait_for(lambda: _status(s)["reloads"] == 2, timeout=60)
        st = _status(s)
        assert st["version"] == files.read(d).version
        # the server timed the reload's steps itself (bench reload prints them)
        steps = st["timings"]
        assert set(steps) == {"watch", "read", "check", "prepare", "commit", "switch", "total"}
        assert all(v >= 0 for v in steps.values()), steps
        assert steps["switch"] >= steps["prepare"] and steps["total"] >= steps["switch"], steps


def test_the_registry_times_a_reload_too(tmp_path):
    from edgehost.reload import Registry

    d = support.make_tenant(tmp_path, "gen", version="v1")
    with Registry(tmp_path, snapshot=False) as reg:
        support.write_atomic(d / "edgehost.toml", support.manifest("gen", greeting="g2"))
        assert support.wait_for(lambda: reg.status()["gen"]["reloads"] == 1, timeout=60)
        steps = reg.status()["gen"]["timings"]
    assert set(steps) == {"watch", "read", "load", "total"}
    assert all(v >= 0 for v in steps.values()) and steps["total"] >= steps["load"], steps


def test_an_unchanged_module_is_not_read_again(tmp_path, monkeypatch):
    d = support.make_tenant(tmp_path, "gen", version="v1")
    monkeypatch.setattr(files, "RACY_S", 0.0)   # as if the module were written long ago
    first = files.read(d)
    assert first.wasm_stat
    again = _change(d, greeting="g2")            # the manifest alone changed
    with open(d / "gen.wasm", "rb") as fh:
        assert again.wasm_sha256 == first.wasm_sha256 and fh.read() == first.wasm
    assert files.read(d, known=first).wasm is first.wasm            # taken, not read
    # the same size, other bytes, a later mtime: read (and hashed) again
    wasm = d / "gen.wasm"
    mtime = wasm.stat().st_mtime_ns
    other = support.module("v2")
    assert len(other) == len(first.wasm)
    wasm.write_bytes(other)
    os.utime(wasm, ns=(mtime + 10**9, mtime + 10**9))
    tf = files.read(d, known=first)
    assert tf.wasm == other and tf.wasm_sha256 != first.wasm_sha256


def test_a_module_changed_within_the_racy_window_is_always_read(tmp_path):
    d = support.make_tenant(tmp_path, "gen", version="v1")
    first = files.read(d)            # written just now: its timestamps prove nothing yet
    assert first.wasm_stat == ()
    tf = files.read(d, known=first)
    assert tf.wasm is not first.wasm and tf.wasm == first.wasm
