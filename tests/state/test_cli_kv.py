"""``edgehost kv ls|get|put|del|drop`` on both backends, on a store a running
worker holds open, with one-line errors; and the default store end to end
(``edgehost call`` twice: the hello tenant's visit count lasts)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgehost.state.localredis import free_port
from tests.state.support import Worker

EDGEHOST = [sys.executable, "-m", "edgehost"]


def run(*args, input_=None, ok=True, env=None):
    proc = subprocess.run([*EDGEHOST, *args], input=input_, capture_output=True, timeout=120,
                          env=env)
    if ok:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def one_line_error(proc, fragment: str):
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("edgehost: error: "), err
    assert fragment in err, err


def test_operator_round_trip(backend):
    o = backend.cli()
    run("kv", "put", "shop", "greeting", "hello", *o)
    assert run("kv", "get", "shop", "greeting", *o).stdout == b"hello"
    run("kv", "put", "shop", "00ff", "--hex", "cafe", *o)
    assert run("kv", "get", "shop", "00ff", "--hex", *o).stdout == b"cafe\n"
    run("kv", "put", "shop", "blob", "--input", "-", *o, input_=bytes(range(256)))
    assert run("kv", "get", "shop", "blob", *o).stdout == bytes(range(256))
    assert run("kv", "ls", "shop", *o).stdout.decode().splitlines() == [
        "\\x00\\xff", "blob", "greeting"]
    assert "00ff" in run("kv", "ls", "shop", "--hex", *o).stdout.decode().split()
    run("kv", "put", "other", "k", "v", *o)
    listing = run("kv", "ls", *o).stdout.decode().splitlines()
    assert listing == ["other\t1 keys\t2 bytes", f"shop\t3 keys\t{2 + 2 + 4 + 256 + 8 + 5} bytes"]
    run("kv", "del", "shop", "greeting", *o)
    one_line_error(run("kv", "get", "shop", "greeting", *o, ok=False), "has no key 'greeting'")
    one_line_error(run("kv", "del", "shop", "greeting", *o, ok=False), "has no key")
    one_line_error(run("kv", "drop", "shop", *o, ok=False), "needs --yes")
    assert "dropped shop: 2 keys" in run("kv", "drop", "shop", "--yes", *o).stdout.decode()
    assert run("kv", "ls", "shop", *o).stdout == b""
    assert run("kv", "ls", *o).stdout.decode().splitlines() == ["other\t1 keys\t2 bytes"]


def test_cli_works_on_a_store_a_worker_holds_open(backend):
    w = Worker(backend.spec, backend.data, "live")
    try:
        assert w.ask(f"put {b'from-worker'.hex()} {b'1'.hex()}") == "0"
        assert run("kv", "get", "live", "from-worker", *backend.cli()).stdout == b"1"
        run("kv", "put", "live", "from-cli", "2", *backend.cli())
        assert w.ask(f"get {b'from-cli'.hex()}") == f"1 {b'2'.hex()}"
        run("kv", "drop", "live", "--yes", *backend.cli())
        assert w.ask(f"get {b'from-worker'.hex()}") == "-1"
    finally:
        w.close()


@pytest.mark.parametrize("args, fragment", [
    (["kv", "get", "Bad!", "k"], "not a tenant name"),
    (["kv", "put", "t", "k"], "give either VALUE or --input"),
    (["kv", "get", "t", "zz", "--hex"], "is not hex"),
    (["kv", "ls", "--kv", "memory"], "lives inside one process"),
    (["kv", "ls", "--kv", "nope"], "unknown kv store"),
    (["kv", "get", "t", "", "--kv", "lmdb"], "a key must be 1.."),
])
def test_bad_input_is_one_line(args, fragment):
    one_line_error(run(*args, ok=False), fragment)


def test_unreachable_redis_is_one_line():
    one_line_error(run("kv", "ls", "--kv", f"redis://127.0.0.1:{free_port()}/0", ok=False),
                   "Connection refused")


def test_default_store_keeps_the_visit_count_across_processes(built_examples, tmp_path):
    # No --kv anywhere: the embedded store in the data directory, the default.
    env = {k: v for k, v in os.environ.items() if k != "EDGEHOST_KV"}
    env["EDGEHOST_DATA"] = str(tmp_path / "host-data")
    hello = str(built_examples / "hello-c")
    for n in (1, 2, 3):
        out = run("call", hello, "hello", "--input", "-", input_=b"edge", env=env).stdout
        assert out == f"hello, edge! (visit {n})".encode()
    assert run("kv", "get", "hello-c", b"visits".hex(), "--hex", env=env).stdout == b"03000000\n"
    assert (tmp_path / "host-data" / "kv" / "data.mdb").exists()
