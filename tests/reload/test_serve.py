"""Hot reload in ``edgehost serve`` (on by default), over real sockets with
clients in a loop: replace, break, fix, config-only change, delete, add --
zero failed requests and every worker answering the right version after each
step; a worker that cannot load a version keeps the old one everywhere; a
storm of writes ends on the last version with flat resources."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.reload import support
from tests.support import Load, Server, get, settled_resources, thread_names


def _body(s, path="/gen/hello") -> bytes:
    return get(s.port, path)[2]


def _everywhere(s, want: bytes, path="/gen/hello", timeout=90.0) -> bool:
    """Every worker answers ``want`` (fresh connections spread over the workers)."""
    return bool(support.wait_for(lambda: all(_body(s, path) == want for _ in range(12)),
                                 timeout=timeout, step=0.02))


def _status(s) -> dict:
    return json.loads(get(s.admin_port, "/status")[2])["versions"]


@pytest.fixture
def two(tmp_path):
    support.make_tenant(tmp_path, "gen", version="v1")
    support.make_tenant(tmp_path, "other", version="o1")
    return tmp_path


def test_every_step_under_load_over_http(two):
    wasm, man = two / "gen" / "gen.wasm", two / "gen" / "edgehost.toml"
    with Server(two, workers=2) as s:
        assert _body(s) == support.answer("v1")
        with Load(s.port, "/gen/hello", clients=4) as load:
            support.write_atomic(wasm, support.module("v2"))                 # replace
            assert _everywhere(s, support.answer("v2"))
            support.write_in_place(wasm, b"\0asm\x01\0\0\0broken")          # break
            assert support.wait_for(lambda: _status(s)["gen"]["rejected"] >= 1)
            assert _everywhere(s, support.answer("v2"))
            support.write_atomic(wasm, support.module("v3"))                 # fix
            assert _everywhere(s, support.answer("v3"))
            support.write_in_place(man, support.manifest("gen", greeting="g9"))  # config only
            assert _everywhere(s, support.answer("v3", "g9"))
            time.sleep(0.2)
        assert load.failures() == [] and len(load.results) > 100, load.failures()[:5]
        st = _status(s)["gen"]
        assert st["reloads"] == 3 and st["rejected"] == 1
        assert "not a valid WebAssembly module" in st["last_error"]["reason"]
        with Load(s.port, "/other/hello", clients=2) as load:
            shutil.rmtree(two / "gen")                                       # delete
            assert support.wait_for(lambda: get(s.port, "/gen/hello")[0] == 404)
            support.make_tenant(two, "gen", version="v4")                   # add
            assert _everywhere(s, support.answer("v4"))
        assert load.failures() == []
        lines = [ln for ln in s.log().splitlines() if "rejected" in ln]
        assert len(lines) == 1 and "tenant gen" in lines[0] and "gen.wasm" in lines[0], lines


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_version_a_worker_cannot_load_is_dropped_everywhere(two):
    """Worker 0 dies while it prepares the new version (in its long
    configure): the master aborts it in every worker, and the replacement
    worker loads the old version too."""
    slow = support.module("v2", configure="""
      (local.set $h (i32.const 0))
      (block $done (loop $spin
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br_if $done (i32.ge_u (local.get $h) (i32.const 3000000000)))
        (br $spin)))""")
    support.write_atomic(two / "gen" / "edgehost.toml",
                         support.manifest("gen", extra="[limits]\ndeadline_ms = 120000"))
    with Server(two, workers=2) as s:
        pids = s.worker_pids()
        cpu0 = _cpu_s(pids[0])
        support.write_atomic(two / "gen" / "gen.wasm", slow)
        assert support.wait_for(lambda: _cpu_s(pids[0]) - cpu0 > 0.5, timeout=60)  # configuring
        os.kill(pids[0], signal.SIGKILL)
        assert support.wait_for(lambda: _status(s)["gen"]["rejected"] >= 1, timeout=120), \
            s.log()
        assert "did not prepare it" in _status(s)["gen"]["last_error"]["reason"]
        assert support.wait_for(lambda: len(s.worker_pids()) == 2 and pids[0] not in
                                s.worker_pids(), timeout=120)
        assert _everywhere(s, support.answer("v1"))


def test_bad_versions_are_rejected_over_http(two):
    with Server(two, workers=2) as s:
        for bad, words in [(support.module("t", configure=support.TRAP), "unreachable"),
                           (support.module("r", configure=support.REFUSE), "refused")]:
            support.write_atomic(two / "gen" / "gen.wasm", bad)
            assert support.wait_for(lambda w=words: w in (
                _status(s)["gen"].get("last_error") or {}).get("reason", ""))
            assert _everywhere(s, support.answer("v1"))


def test_checks_run_in_every_worker_before_traffic(two):
    from edgehost.kernels.crc32c import crc32c

    man = two / "gen" / "edgehost.toml"
    def check(version: str) -> str:
        return ('\n[[check]]\nname = "greets"\npath = "/hello"\n'
                f'expect_crc32c = "{crc32c(support.answer(version)):08x}"\n')

    support.write_atomic(man, support.manifest("gen", checks=check("v1")))
    with Server(two, workers=2) as s:
        assert support.wait_for(lambda: [c["ok"] for c in _status(s)["gen"]["checks"]] == [True])
        support.write_atomic(two / "gen" / "gen.wasm", support.module("v2"))
        assert support.wait_for(lambda: _status(s)["gen"]["rejected"] == 1)
        assert "check 'greets' failed" in _status(s)["gen"]["last_error"]["reason"]
        assert _everywhere(s, support.answer("v1"))
        support.write_atomic(man, support.manifest("gen", checks=check("v2")))
        assert _everywhere(s, support.answer("v2"))
        (c,) = _status(s)["gen"]["checks"]
        assert c["name"] == "greets" and c["ok"]


def test_no_watch_reloads_only_on_sighup(two):
    with Server(two, extra=["--no-watch"]) as s:
        support.write_atomic(two / "gen" / "gen.wasm", support.module("v2"))
        time.sleep(1.5)
        assert _body(s) == support.answer("v1")
        s.signal(signal.SIGHUP)
        assert _everywhere(s, support.answer("v2"))


def test_a_reload_storm_ends_on_the_last_version_with_flat_resources(tmp_path):
    """Isolation "default": with KVM here, each version has a guest to leak."""
    two = tmp_path
    support.make_tenant(two, "gen", version="s0", isolation="default")
    support.make_tenant(two, "other", version="o1")
    wasm = two / "gen" / "gen.wasm"
    modules = [support.module(f"s{i}") for i in range(101)]
    with Server(two, workers=2) as s:
        with Load(s.port, "/gen/hello", clients=2):
            for i in range(6):   # every code path of a reload, and full module memos
                support.write_atomic(wasm, support.module(f"warm{i}"))
                assert _everywhere(s, support.answer(f"warm{i}"))
            time.sleep(1.0)
        pids = [s.proc.pid, *s.worker_pids()]
        before = settled_resources(s, interval_s=0.3)
        names_before = thread_names(pids)
        fds_before = {p: sorted(os.listdir(f"/proc/{p}/fd")) for p in pids}
        with Load(s.port, "/gen/hello", clients=4) as load:
            for i in range(1, 101):
                (support.write_atomic if i % 2 else support.write_in_place)(wasm, modules[i])
            assert _everywhere(s, support.answer("s100"), timeout=60)
            time.sleep(1.0)
        after = settled_resources(s, interval_s=0.3)
        fds_after = {p: sorted(os.listdir(f"/proc/{p}/fd")) for p in pids}
        assert s.worker_pids() == pids[1:], "a worker died in the storm"
        assert load.failures() == [], load.failures()[:5]
        grown = {p: [os.readlink(f"/proc/{p}/fd/{f}") for f in fds_after[p]
                     if f not in fds_before[p] and os.path.exists(f"/proc/{p}/fd/{f}")]
                 for p in pids}
        assert after.fds - before.fds <= 2, grown
        new_threads = thread_names(pids) - names_before
        assert after.threads <= before.threads, f"new threads by name: {dict(new_threads)}"
        before.assert_flat(after, rss_slack_kib=64 << 10, fd_slack=2)
        print(f"\nstorm over HTTP: {_status(s)['gen']['reloads']} reloads for 100 writes, "
              f"{len(load.results)} requests, RSS {before.rss_kib >> 10} -> "
              f"{after.rss_kib >> 10} MiB, fds {before.fds} -> {after.fds}, threads "
              f"{before.threads} -> {after.threads}")


def test_edgehost_status_shows_versions_checks_and_errors(two):
    with Server(two) as s:
        support.write_atomic(two / "gen" / "gen.wasm", b"\0asm\x01\0\0\0bad")
        assert support.wait_for(lambda: _status(s)["gen"]["rejected"] == 1)
        for args in (["status"], ["status", "--admin", f"127.0.0.1:{s.admin_port}"]):
            out = subprocess.run([sys.executable, "-m", "edgehost", *args], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert f"gen: version {_status(s)['gen']['version']}" in out.stdout
            assert "last reload error" in out.stdout and "gen.wasm" in out.stdout
        data = json.loads(subprocess.run([sys.executable, "-m", "edgehost", "status", "--json"],
                                         capture_output=True, text=True, timeout=60).stdout)
        mine = [d for d in data if d["pid"] == s.proc.pid]
        assert mine and set(mine[0]["tenants"]) == {"gen", "other"}
