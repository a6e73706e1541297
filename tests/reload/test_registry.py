"""The Python API's hot reload (``edgehost.reload.Registry``) while calls
run in a loop: replace, break, fix, delete, add, config-only change; bad
versions of every kind rejected with one log line; a storm of writes."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import threading
import time

import pytest

from edgehost.reload import Registry
from edgehost.runtime.tenant import Tenant
from tests.reload import support


class CallLoop:
    """Threads calling ``name``'s hello handler until stopped; every outcome kept."""

    def __init__(self, reg: Registry, name: str = "gen", threads: int = 3):
        self.reg, self.name = reg, name
        self.results: list[bytes | str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self._stop.is_set():
            try:
                self.results.append(self.reg.call(self.name, "hello", b"").body)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                self.results.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def failures(self) -> list[str]:
        return [r for r in self.results if isinstance(r, str)]


def _answers(reg, want: bytes, name: str = "gen") -> bool:
    return reg.call(name, "hello", b"").body == want


def _settled(reg, want: bytes, name: str = "gen"):
    """``want`` is answered, then every call answers it (nothing flips back)."""
    assert support.wait_for(lambda: _answers(reg, want, name), timeout=30), \
        f"never answered {want!r}: {reg.status()}"
    assert all(_answers(reg, want, name) for _ in range(50))


def test_every_step_under_a_call_loop(tmp_path, caplog):
    support.make_tenant(tmp_path, "gen", version="v1")
    support.make_tenant(tmp_path, "other", version="o1")
    d = tmp_path / "gen"
    wasm, man = d / "gen.wasm", d / "edgehost.toml"
    with Registry(tmp_path) as reg, caplog.at_level(logging.INFO, logger="edgehost.reload"):
        with CallLoop(reg) as loop:
            # replace (rename into place)
            support.write_atomic(wasm, support.module("v2"))
            _settled(reg, support.answer("v2"))
            # break: a module that does not parse, written in place
            support.write_in_place(wasm, b"\0asm\x01\0\0\0garbage")
            assert support.wait_for(lambda: reg.status()["gen"]["rejected"] >= 1, timeout=30)
            _settled(reg, support.answer("v2"))
            # fix
            support.write_atomic(wasm, support.module("v3"))
            _settled(reg, support.answer("v3"))
            # config-only change
            v3 = reg.version("gen")
            support.write_in_place(man, support.manifest("gen", greeting="g2"))
            _settled(reg, support.answer("v3", "g2"))
            assert reg.version("gen") != v3
            assert reg.status()["gen"]["module_sha256"] == \
                __import__("hashlib").sha256(wasm.read_bytes()).hexdigest()
        assert loop.failures() == [] and len(loop.results) > 100
        # delete, then add, while the other tenant keeps answering
        with CallLoop(reg, "other") as loop:
            shutil.rmtree(d)
            assert support.wait_for(lambda: "gen" not in reg.names(), timeout=30)
            support.make_tenant(tmp_path, "gen", version="v4")
            assert support.wait_for(lambda: "gen" in reg.names(), timeout=30)
            _settled(reg, support.answer("v4"))
        assert loop.failures() == [] and set(loop.results) == {support.answer("o1")}
    lines = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    msg = lines[0].getMessage()
    assert "tenant gen" in msg and "gen.wasm" in msg and "not a valid WebAssembly" in msg


@pytest.mark.parametrize("bad, words, file", [
    (support.module("t", configure=support.TRAP), "unreachable", "gen.wasm"),
    # the module refuses the manifest's [config]: the manifest is named
    (support.module("r", configure=support.REFUSE), "refused its configuration",
     "edgehost.toml"),
    (support.module("l", configure=support.LOOP), "deadline", "gen.wasm"),
    (bytes(__import__("wasmtime").wat2wasm('(module (memory (export "memory") 1) '
                                           '(func (export "edgehost_abi_v9")))')), "ABI",
     "gen.wasm"),
], ids=["configure-traps", "configure-refuses", "configure-times-out", "abi-mismatch"])
def test_bad_versions_are_rejected_and_the_old_one_serves(tmp_path, caplog, bad, words, file):
    support.make_tenant(tmp_path, "gen", version="v1",
                        extra="[limits]\ndeadline_ms = 100")
    with Registry(tmp_path, snapshot=False) as reg, \
            caplog.at_level(logging.ERROR, logger="edgehost.reload"):
        support.write_atomic(tmp_path / "gen" / "gen.wasm", bad)
        assert support.wait_for(lambda: reg.status()["gen"]["rejected"] == 1, timeout=30)
        assert _answers(reg, support.answer("v1"))
        err = reg.status()["gen"]["last_error"]
        assert words in err["reason"] and err["file"].endswith(file)
    (line,) = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert "tenant gen" in line and file in line and words in line


def test_a_manifest_error_is_rejected_naming_the_manifest(tmp_path, caplog):
    support.make_tenant(tmp_path, "gen", version="v1")
    man = tmp_path / "gen" / "edgehost.toml"
    with Registry(tmp_path, snapshot=False) as reg, \
            caplog.at_level(logging.ERROR, logger="edgehost.reload"):
        support.write_atomic(man, man.read_text().replace('"/hello" = "hello"',
                                                          '"/hello" = "missing"'))
        assert support.wait_for(lambda: reg.status()["gen"]["rejected"] == 1, timeout=30)
        assert _answers(reg, support.answer("v1"))
    (line,) = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert "edgehost.toml" in line and "missing" in line


def test_a_failing_check_keeps_the_old_version(tmp_path):
    check = '\n[[check]]\nname = "v1 only"\npath = "/hello"\nexpect_crc32c = "%08x"\n'
    from edgehost.kernels.crc32c import crc32c

    support.make_tenant(tmp_path, "gen", version="v1",
                        checks=check % crc32c(support.answer("v1")))
    with Registry(tmp_path) as reg:
        assert reg.status()["gen"]["checks"][0]["ok"]
        support.write_atomic(tmp_path / "gen" / "gen.wasm", support.module("v2"))
        assert support.wait_for(lambda: reg.status()["gen"]["rejected"] == 1, timeout=30)
        assert "check 'v1 only' failed" in reg.status()["gen"]["last_error"]["reason"]
        assert _answers(reg, support.answer("v1"))


def test_a_slow_in_place_writer_is_never_loaded_half_written(tmp_path, caplog):
    support.make_tenant(tmp_path, "gen", version="v1")
    wasm = tmp_path / "gen" / "gen.wasm"
    with Registry(tmp_path, snapshot=False) as reg, \
            caplog.at_level(logging.ERROR, logger="edgehost.reload"):
        with CallLoop(reg) as loop:
            support.write_in_place(wasm, support.module("v2"), pieces=4, pause_s=0.05)
            _settled(reg, support.answer("v2"))
        assert loop.failures() == []
        assert not [r for r in caplog.records if "rejected" in r.getMessage()]
        assert set(loop.results) <= {support.answer("v1"), support.answer("v2")}


def _resources() -> dict:
    from edgehost.runtime import module_cache

    module_cache.shared().forget()   # compiled modules it keeps hold a memfd each
    gc.collect()
    with open("/proc/self/statm") as fh:
        rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    def comm(t):
        try:
            with open(f"/proc/self/task/{t}/comm") as fh:
                return fh.read().strip()
        except OSError:
            return "?"

    return {"threads": sorted(comm(t) for t in os.listdir("/proc/self/task")),
            "py_threads": sorted(t.name for t in threading.enumerate()),
            "fds": sorted(os.readlink(f"/proc/self/fd/{f}") for f in os.listdir("/proc/self/fd")
                          if os.path.exists(f"/proc/self/fd/{f}")), "rss": rss,
            "tenants": sum(1 for o in gc.get_objects() if isinstance(o, Tenant))}


def test_a_reload_storm_ends_on_the_last_version_without_leaks(tmp_path):
    support.make_tenant(tmp_path, "gen", version="s0")
    wasm = tmp_path / "gen" / "gen.wasm"
    modules = [support.module(f"s{i}") for i in range(101)]
    with Registry(tmp_path) as reg:
        with CallLoop(reg):           # warm everything a reload touches (compiler threads)
            for i in range(3):
                support.write_atomic(wasm, support.module(f"warm{i}"))
                _settled(reg, support.answer(f"warm{i}"))
                reg.wait_snapshots()
        before = _resources()
        with CallLoop(reg) as loop:
            for i in range(1, 101):
                if i % 2:
                    support.write_atomic(wasm, modules[i])
                else:
                    support.write_in_place(wasm, modules[i])
            _settled(reg, support.answer("s100"))
        reg.wait_snapshots()
        time.sleep(0.2)
        after = _resources()
        assert loop.failures() == []
        assert len(after["threads"]) == len(before["threads"]), (before["py_threads"],
                                                                 after["py_threads"])
        assert len(after["fds"]) <= len(before["fds"]), (before["fds"], after["fds"])
        assert after["tenants"] <= before["tenants"] + 1, (before, after)
        assert after["rss"] - before["rss"] < 64 << 20, (before, after)
        print(f"\nstorm: {reg.status()['gen']['reloads']} reloads, {len(loop.results)} calls, "
              f"rss {before['rss'] >> 20} -> {after['rss'] >> 20} MiB")
