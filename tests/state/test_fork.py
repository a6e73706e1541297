"""LMDB environments and sockets do not survive fork(): a store opened
before a fork refuses to serve in the child (with a clear reason) and never
touches the parent's state; the child's default store is its own."""

from __future__ import annotations

import os

import pytest

from edgehost import state
from edgehost.errors import StoreUnavailable
from tests.state.support import get, kv_tenant, put


def test_a_store_opened_before_fork_is_refused_in_the_child(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEHOST_KV", "lmdb")
    monkeypatch.setenv("EDGEHOST_DATA", str(tmp_path / "child-default"))
    with backend.open() as store:
        t = kv_tenant(store, "forked")
        assert put(t, b"k", b"parent") == 0
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report on the pipe, never return into pytest
            code = 1
            try:
                os.close(r)
                try:
                    get(t, b"k")
                    msg = "served"
                except StoreUnavailable as exc:
                    msg = "refused: " + str(exc)
                # (No new tenant here: compiling WASM after fork() deadlocks in
                # wasmtime's compiler threads, which the child does not have.)
                own = state.default_store()
                with own.namespace("forked") as ns:
                    ns.put(b"k", b"child")
                    msg += f"|own {own.backend} {ns.get(b'k')!r}"
                os.write(w, msg.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        report = b""
        while chunk := os.read(r, 4096):
            report += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        assert status == 0, report
        refused, own = report.decode().split("|")
        assert refused.startswith("refused:") and "before this process forked" in refused
        assert own == "own lmdb b'child'"
        # The parent's store and reader slots are untouched by the child.
        assert get(t, b"k") == b"parent"
        assert put(t, b"k2", b"after") == 0 and get(t, b"k2") == b"after"


@pytest.fixture(autouse=True)
def _no_default_leak():
    yield
    state.set_default_store(None)
