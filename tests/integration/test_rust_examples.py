"""Every Rust example builds from source (Debian rustc, wasm32-unknown-unknown,
the SDK crate as an rlib) and does its job; outputs are checked against
Python peers (csv, json, numpy)."""

from __future__ import annotations

import csv
import io
import json
import pathlib
import shutil

import msgpack
import numpy as np
import pytest

from edgehost.runtime.tenant import Tenant
from edgehost.toolchain import build
from edgehost.wasm_config import manifest as manifest_mod
from tests.support import EXAMPLES

pytestmark = pytest.mark.toolchain


def build_copy(src: pathlib.Path, dst_root: pathlib.Path, *, iso: str | None = None,
               config: dict | None = None) -> Tenant:
    """Build a fresh copy of example ``src``; optionally override isolation/config."""
    dst = dst_root / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.wasm"))
    out, rebuilt = build.build(dst)
    assert rebuilt and out == dst / f"{src.name}.wasm" and out.stat().st_size > 0
    man = manifest_mod.load(dst)
    if iso:
        man.isolation = iso
    man.config.update(config or {})
    return Tenant(man)


def test_every_rust_example_builds_from_a_clean_tree(rust_toolchain, tmp_path):
    names = []
    for man in sorted(EXAMPLES.glob("*/edgehost.toml")):
        if manifest_mod.load(man).language == "rust":
            build_copy(man.parent, tmp_path)
            names.append(man.parent.name)
    assert {"hello-rust", "similarity-rust", "csv-ingest-rust"} <= set(names)


# ---- hello-rust ------------------------------------------------------------

def test_hello_counts_visits_and_reads_config(rust_toolchain, tmp_path, caplog):
    caplog.set_level("INFO")
    t = build_copy(EXAMPLES / "hello-rust", tmp_path)
    r = t.call("hello", b"edge")
    assert r.body == b"hello, edge! (visit 1)"
    assert dict(r.headers)["content-type"] == "text/plain"
    assert t.call("hello").body == b"hello, world! (visit 2)"
    assert any("hello handled a request" in rec.getMessage() for rec in caplog.records)
    r = t.call("hello", b"\xff\xfe")
    assert (r.status, r.http_status, r.body) == (0, 400, b"body is not UTF-8")


# ---- similarity-rust -------------------------------------------------------

def _isolations():
    kvm = pytest.param("kvm", marks=pytest.mark.kvm)
    return ["inproc", kvm]


def _mp(t: Tenant, export: str, msg: dict | None = None, **kw):
    return msgpack.unpackb(t.call(export, msgpack.packb(msg or {}), **kw).body)


@pytest.mark.parametrize("iso", _isolations())
def test_similarity_search_matches_numpy(rust_toolchain, tmp_path, iso):
    t = build_copy(EXAMPLES / "similarity-rust", tmp_path, iso=iso, config={"shard_rows": 7})
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((40, 16)).astype(np.float32)
    for i, v in enumerate(vecs):
        body = {"id": f"v{i}", "vec": v.tobytes() if i % 2 else v.tolist()}
        assert _mp(t, "put", body) == {"id": f"v{i}", "row": i, "count": i + 1}
    assert _mp(t, "stats") == {"count": 40, "dim": 16, "shards": 6}
    q = rng.standard_normal(16).astype(np.float32)
    d2 = ((vecs - q) ** 2).sum(1)
    dot = vecs @ q
    cos = dot / np.linalg.norm(vecs, axis=1) / np.linalg.norm(q)
    for metric, scores, order in (("l2", d2, np.argsort(d2, kind="stable")),
                                  ("dot", dot, np.argsort(-dot, kind="stable")),
                                  ("cosine", cos, np.argsort(-cos, kind="stable"))):
        hits = _mp(t, "query", {"vec": q.tolist(), "k": 6, "metric": metric})
        assert [h["id"] for h in hits] == [f"v{i}" for i in order[:6]], metric
        np.testing.assert_allclose([h["score"] for h in hits], scores[order[:6]], rtol=1e-5)
    scores = _mp(t, "scores", {"vec": q.tobytes()})
    np.testing.assert_allclose([scores[f"v{i}"] for i in range(40)], dot, rtol=1e-5, atol=1e-6)
    cmp = _mp(t, "compare", {"id": "v3", "b": "v30"})
    a, b = vecs[3], vecs[30]
    np.testing.assert_allclose(
        [cmp["dot"], cmp["cosine"], cmp["l2sq"], cmp["norm_a"], cmp["norm_b"]],
        [a @ b, a @ b / np.linalg.norm(a) / np.linalg.norm(b), ((a - b) ** 2).sum(),
         np.linalg.norm(a), np.linalg.norm(b)], rtol=1e-5)

    # delete moves the last row into the hole; everything stays consistent
    for gone in ("v3", "v39", "v0", "v20"):
        assert _mp(t, "delete", {"id": gone})["id"] == gone
    keep = [i for i in range(40) if f"v{i}" not in ("v3", "v39", "v0", "v20")]
    assert _mp(t, "stats")["count"] == len(keep)
    d2k = d2[keep]
    hits = _mp(t, "query", {"vec": q.tolist(), "k": 10, "metric": "l2"})
    assert [h["id"] for h in hits] == [f"v{keep[i]}" for i in np.argsort(d2k, kind="stable")[:10]]
    np.testing.assert_allclose(_mp(t, "centroid"), vecs[keep].mean(0), rtol=1e-4, atol=1e-5)
    # replacing a vector keeps its row (v5 never moved) and adds none
    assert _mp(t, "put", {"id": "v5", "vec": q.tolist()}) == \
        {"id": "v5", "row": 5, "count": len(keep)}
    assert _mp(t, "query", {"vec": q.tolist(), "k": 1, "metric": "l2"})[0] == \
        {"id": "v5", "score": 0.0}


def test_similarity_rejects_bad_requests(rust_toolchain, tmp_path):
    t = build_copy(EXAMPLES / "similarity-rust", tmp_path, iso="inproc")
    for body, status, text in (
        (msgpack.packb({"id": "a", "vec": [1.0, 2.0]}), 400, b"vec must hold exactly dim floats"),
        (b"\x01", 400, b"body must be a msgpack map"),
        (msgpack.packb({"vec": [0.0] * 16, "k": 0}), 400, b"k must be 1..64"),
        (msgpack.packb({"vec": [0.0] * 16, "metric": "manhattan"}), 400, b"metric must be"),
    ):
        r = t.call("query" if b"k" in body or b"metric" in body else "put", body)
        assert (r.status, r.http_status) == (0, status) and r.body.startswith(text), r
    r = t.call("delete", msgpack.packb({"id": "nope"}), check=False)
    assert (r.status, r.http_status, r.body) == (-1, 404, b"not found")
    assert t.call("centroid").http_status == 409


# ---- csv-ingest-rust -------------------------------------------------------

def _py_rows(text: str) -> list[dict]:
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    head = rows[0]
    return [dict(zip(head, r, strict=True)) for r in rows[1:]]


@pytest.mark.parametrize("iso", _isolations())
def test_csv_ingest_matches_python_csv(rust_toolchain, tmp_path, iso):
    t = build_copy(EXAMPLES / "csv-ingest-rust", tmp_path, iso=iso, config={"numbers": False})
    rng = np.random.default_rng(3)
    pieces = ["plain", "with,comma", 'with "quotes"', "multi\nline", "ünïcödé", "tab\there", "x"]
    lines = [["id", "name", "note"]]
    for i in range(300):
        lines.append([str(i), str(rng.choice(pieces)), str(rng.choice(pieces)) * int(i % 3)])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(lines)
    text = buf.getvalue()
    r = t.call("ingest", text.encode())
    assert dict(r.headers)["content-type"] == "application/json"
    assert dict(r.headers)["x-rows"] == "300"
    got = json.loads(r.body)
    want = [{k: (v if v != "" else None) for k, v in row.items()} for row in _py_rows(text)]
    # empty unquoted fields are null; the csv module quotes nothing empty
    assert got == want
    mp = msgpack.unpackb(t.call("ingest", text.encode(),
                                headers={"Accept": "application/msgpack"}).body)
    assert mp == got


def test_csv_ingest_types_and_errors(rust_toolchain, tmp_path):
    t = build_copy(EXAMPLES / "csv-ingest-rust", tmp_path, iso="inproc")
    body = b'name,qty,price,note\nbolt,12,0.25,\n"nut, hex",007,-1e3,""\n\n"7",1.,x,"a ""b"""\n'
    got = json.loads(t.call("ingest", body).body)
    assert got == [
        {"name": "bolt", "qty": 12, "price": 0.25, "note": None},
        {"name": "nut, hex", "qty": "007", "price": -1000.0, "note": ""},
        {"name": "7", "qty": "1.", "price": "x", "note": 'a "b"'},
    ]
    mp = msgpack.unpackb(t.call("ingest", body, headers={"accept": "application/msgpack"}).body)
    assert mp == got and isinstance(mp[0]["qty"], int)
    assert json.loads(t.call("count", body).body) == {"rows": 5, "fields": 17}
    r = t.call("ingest", b"a,b\n1,2\n3,4,5\n")
    assert (r.http_status, r.body) == (
        400, b"CSV error at byte 8: row has a different number of fields than the header")
    r = t.call("ingest", b'a,b\n"1,2\n')
    assert (r.http_status, r.body) == (400, b"CSV error at byte 4: quoted field is never closed")
    r = t.call("ingest", b"a\n\xff\n")
    assert (r.http_status, r.body) == (400, b"CSV is not UTF-8")
    assert json.loads(t.call("ingest", b"").body) == []


def test_csv_ingest_semicolon_dialect(rust_toolchain, tmp_path):
    t = build_copy(EXAMPLES / "csv-ingest-rust", tmp_path, iso="inproc",
                   config={"delimiter": ";"})
    assert json.loads(t.call("ingest", b"a;b\n1,5;x\n").body) == [{"a": "1,5", "b": "x"}]
