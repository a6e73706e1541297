"""Faults around hot reload (issue 16's list, for the parts reload owns): a
full disk under the module cache, and a watched directory that disappears
and comes back. Each is one clear log line, and the live versions keep
serving; nothing half-written is ever trusted."""

from __future__ import annotations

import logging
import shutil

from edgehost.reload import Registry
from edgehost.runtime import engine as engine_mod
from edgehost.runtime import module_cache as mc
from tests.reload import support
from tests.support import fill_filesystem, record, small_filesystem


def test_a_full_disk_under_the_module_cache_is_a_warning(tmp_path, caplog):
    with small_filesystem(tmp_path / "disk", "256k") as disk:
        cache = mc.ModuleCache(disk / "modules")
        assert cache.usable()
        fill_filesystem(disk)
        settings = engine_mod.shared().settings
        with caplog.at_level(logging.WARNING, logger="edgehost.module_cache"):
            module = cache.compile(engine_mod.shared().wasmtime, support.module("full"),
                                   settings)
        assert module is not None
        assert "disk full" in caplog.text and cache.stats.write_failures == 1
        assert not [p for p in cache.dir.iterdir()]   # no entry, no temporary left
        (disk / ".filler").unlink()
        again = mc.ModuleCache(cache.dir)
        again.compile(engine_mod.shared().wasmtime, support.module("full"), settings)
        assert again.stats.misses == 1 and len(list(cache.dir.iterdir())) == 1
    record("fault", fault="disk full while the module cache writes an entry",
           outcome="one warning; the module is used uncached; the entry is written once there "
                   "is room")


def test_a_watched_directory_that_disappears_and_comes_back(tmp_path, caplog):
    root = tmp_path / "tenants"
    support.make_tenant(root, "gen", version="v1")
    with Registry(root) as reg, caplog.at_level(logging.INFO, logger="edgehost.reload"):
        assert reg.call("gen", "hello").body == support.answer("v1")
        moved = tmp_path / "elsewhere"
        shutil.move(str(root), str(moved))           # the whole watched folder goes
        assert support.wait_for(lambda: reg.names() == [], timeout=30)
        assert "disappeared" in caplog.text
        support.make_tenant(root, "gen", version="v2")   # and a new one comes back
        assert support.wait_for(lambda: reg.names() == ["gen"], timeout=30)
        assert support.wait_for(lambda: reg.call("gen", "hello").body == support.answer("v2"))
        support.write_atomic(root / "gen" / "gen.wasm", support.module("v3"))  # watched again
        assert support.wait_for(lambda: reg.call("gen", "hello").body == support.answer("v3"))
        # the moved folder is not watched any more: changing it changes nothing
        support.write_atomic(moved / "gen" / "gen.wasm", support.module("v9"))
        import time

        time.sleep(1.5)
        assert reg.call("gen", "hello").body == support.answer("v3")
    record("fault", fault="the watched tenants directory moved away, then created again",
           outcome="one warning; its tenants unloaded; watched and loaded again when it comes "
                   "back")
