"""Hot reload retires versions: loading and retiring 1,000 versions of a
tenant (each called, each with its instances and, under KVM, its own guest)
leaves memory, threads and file descriptors flat. The retired Tenant objects
are kept referenced, so only close() -- not the garbage collector -- can have
released what they held."""

from __future__ import annotations

import pytest
import wasmtime

from edgehost.runtime.tenant import Tenant
from edgehost.wasm_config import manifest as manifest_mod
from tests.support import ABI_PROLOGUE, Resources

VERSIONS = 1000
# Small on purpose: a version's cost is mostly compiling its module.
WASM = bytes(wasmtime.wat2wasm(f"""(module
  (import "edgehost" "crc32c" (func $crc (param i32 i32 i32) (result i32)))
  (import "edgehost" "log" (func $log (param i32 i32 i32)))
  (func (export "crc") (param $p i32) (param $n i32) (result i32)
    (drop (call $crc (local.get $p) (local.get $n) (i32.const 0))) (i32.const 0))
  (func (export "log") (param $p i32) (param $n i32) (result i32)
    (call $log (i32.const 1) (local.get $p) (local.get $n)) (i32.const 0))
  {ABI_PROLOGUE})"""))
DATA = bytes(range(256)) * 4


@pytest.mark.parametrize("iso", ["inproc", pytest.param("kvm", marks=pytest.mark.kvm)])
def test_retiring_versions_releases_everything(tmp_path, iso):
    man = manifest_mod.from_dict({"name": "reloaded", "isolation": iso, "kernels": ["crc32c"],
                                  "config": {"version": 0}}, tmp_path / "edgehost.toml")

    retired = []

    def version(i):
        man.config["version"] = i
        with Tenant(man, wasm=WASM) as t:
            retired.append(t)
            t.call("crc", DATA)
            inst = t.instance()  # a second instance, held past close
            t.call("log", b"a log line the version leaves behind")
        retired.append(inst)
        inst.close()

    for i in range(50):  # warm allocator caches, pools and the engine
        version(i)
    before = Resources.now()
    for i in range(VERSIONS):
        version(i)
    # A leaked native tenant alone is > 130 KiB (its log ring): 1,000 of them > 130 MiB;
    # a leaked guest keeps a VM and a vCPU descriptor and a thread.
    before.assert_flat(Resources.now(), rss_slack_kib=16 * 1024)
    assert all(x.closed for x in retired)
