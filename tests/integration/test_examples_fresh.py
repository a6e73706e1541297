"""The bundled examples with ``instance = "fresh"``: the write-tracking
rewrite takes real compiled modules, and a tenant whose used instances are
put back in place answers exactly as one that reuses them (for requests that
keep no state in memory) or as new instances do (hello-c's counter lives in
kv, so it counts on either way)."""

from __future__ import annotations

import json
import shutil

import crc32c as crc32c_peer
import pytest

from edgehost.reload import files, pipeline
from tests.integration.test_examples_c import DOC, POINTERS, _resolve


def _fresh(built_examples, tmp_path, name: str, iso: str = "inproc") -> pipeline.Loaded:
    d = tmp_path / name
    shutil.copytree(built_examples / name, d, ignore=shutil.ignore_patterns("target"))
    man = d / "edgehost.toml"
    text = man.read_text()
    man.write_text(text.replace("[routes]", f'instance = "fresh"\nisolation = "{iso}"\n\n'
                                            "[routes]", 1))
    snap = pipeline.snapshot_form(pipeline.load(files.read(d)))
    assert snap.snapshot.fresh_in_place is True, snap.snapshot.fresh_note
    return snap


@pytest.mark.parametrize("iso", ["inproc", pytest.param("kvm", marks=pytest.mark.kvm)])
def test_etag_c_fresh_in_place(built_examples, tmp_path, iso):
    """The kernel's output is marked by the host API with either isolation
    (a guest sees the memory read-only; the monitor copies its output)."""
    snap = _fresh(built_examples, tmp_path, "etag-c", iso)
    t = snap.tenant
    for body in (b"x" * 70000, b"", b"some body" * 100, b"y"):
        want = f"{crc32c_peer.crc32c(body):08x}"
        r = t.call("etag", body)
        assert r.body.decode() == want and dict(r.headers)["etag"] == f'"{want}"'
        r = t.call("verify", body, headers={"If-Match": f'"{want}"'})
        assert (r.http_status, r.body) == (200, b"match")
    assert t.pool_stats()["created"] <= 2
    t.close()


def test_json_filter_c_fresh_in_place(built_examples, tmp_path):
    snap = _fresh(built_examples, tmp_path, "json-filter-c")
    t = snap.tenant
    body = json.dumps(DOC, indent=2).encode()
    for _ in range(3):
        for ptr in POINTERS:
            r = t.call("extract", body, query="pointer=" + ptr.replace("/", "%2F"))
            assert r.http_status == 200, (ptr, r.body)
            assert json.loads(r.body) == _resolve(DOC, ptr), ptr
        r = t.call("validate", b'["\xff"]')
        assert (r.http_status, json.loads(r.body)) == (400, {"error": "invalid-utf8", "offset": 2})
        assert json.loads(t.call("validate", body).body)["valid"] is True
    t.close()


def test_hello_c_fresh_in_place_keeps_its_kv_counter(built_examples, tmp_path):
    snap = _fresh(built_examples, tmp_path, "hello-c")
    t = snap.tenant
    first = t.call("hello", b"edge").body
    assert first.startswith(b"hello, edge! (visit ")
    n = int(first.rsplit(b" ", 1)[1].rstrip(b")"))
    for i in range(1, 20):
        assert t.call("hello", b"").body == b"hello, world! (visit %d)" % (n + i)
    t.close()


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["hello-rust", "csv-ingest-rust", "similarity-rust"])
def test_rust_examples_are_taken_by_the_rewrite(rust_toolchain, tmp_path, name):
    from edgehost.toolchain import build
    from tests.support import EXAMPLES

    src = tmp_path / "src"
    shutil.copytree(EXAMPLES / name, src / name, ignore=shutil.ignore_patterns("*.wasm"))
    build.build(src / name)
    _fresh(src, tmp_path / "fresh", name).tenant.close()
