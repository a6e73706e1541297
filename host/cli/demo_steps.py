"""What ``edgehost demo`` does with each bundled example: a few real calls
whose outputs are printed, so a reader sees every kernel at work."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from edgehost.runtime.tenant import Tenant

DEMO_BODY = b"edgehost demo: hello from the host\n"


def _etag(t: Tenant) -> Iterator[str]:
    r = t.call("etag", DEMO_BODY)
    yield f"etag({len(DEMO_BODY)} bytes) -> {r.body.decode()}  headers={dict(r.headers)}"
    etag = dict(r.headers)["etag"]
    r = t.call("verify", DEMO_BODY, headers={"If-Match": etag})
    yield f"verify(matching If-Match) -> {r.http_status} {r.body.decode()}"
    r = t.call("verify", DEMO_BODY + b"tampered", headers={"If-Match": etag})
    yield f"verify(tampered body)     -> {r.http_status} {r.body.decode()}"


def _hello(t: Tenant) -> Iterator[str]:
    for who in (b"edge", b"demo"):
        r = t.call("hello", who)
        yield f"hello({who.decode()!r}) -> {r.body.decode()!r}"
    yield f"kv entries: {t.kv_stats()[0]}; log lines: {t.log_lines}"


def _hello_rust(t: Tenant) -> Iterator[str]:
    for who in (b"edge", b"rust"):
        r = t.call("hello", who)
        yield f"hello({who.decode()!r}) -> {r.body.decode()!r}"
    r = t.call("hello", b"\xff")
    yield f"hello(b'\\xff') -> {r.http_status} {r.body.decode()!r} (the SDK's Reject)"


def _similarity(t: Tenant) -> Iterator[str]:
    import math

    import msgpack

    def mp(export: str, msg: dict | None = None):
        return msgpack.unpackb(t.call(export, msgpack.packb(msg or {})).body)

    dim = int(t.manifest.config.get("dim", 16))
    names = ["north", "east", "south", "west", "up", "down", "left", "right"]
    for i, name in enumerate(names):
        mp("put", {"id": name, "vec": [math.cos(0.7 * i + 0.3 * j) for j in range(dim)]})
    yield f"put {len(names)} vectors of {dim} floats -> {mp('stats')}"
    q = [math.cos(0.7 * 2.2 + 0.3 * j) for j in range(dim)]
    for metric in ("cosine", "l2"):
        hits = mp("query", {"vec": q, "k": 3, "metric": metric})
        yield f"query top-3 by {metric}: " + ", ".join(
            f"{h['id']} {h['score']:.4f}" for h in hits)
    cmp = mp("compare", {"id": "north", "b": "south"})
    yield "compare(north, south): " + ", ".join(f"{k} {v:.3f}" for k, v in cmp.items())
    yield "centroid[:4] = " + ", ".join(f"{v:.4f}" for v in mp("centroid")[:4])
    mp("delete", {"id": "east"})
    yield f"delete(east) -> {mp('stats')}"


def _csv_ingest(t: Tenant) -> Iterator[str]:
    body = b'item,qty,price,note\nbolt,12,0.25,\n"nut, hex",7,0.1,"say ""hi"""\n'
    r = t.call("ingest", body)
    yield f"ingest({len(body)} bytes CSV, {dict(r.headers)['x-rows']} rows) -> {r.body.decode()}"
    yield f"count -> {t.call('count', body).body.decode()}"
    r = t.call("ingest", b"a,b\n1,2,3\n")
    yield f"ingest(ragged row) -> {r.http_status} {r.body.decode()}"


def _json_filter(t: Tenant) -> Iterator[str]:
    doc = b'{"id": 7, "user": {"name": "ada", "langs": ["c", "rust"]}, "tags": ["x"]}'
    yield f"validate({len(doc)} bytes) -> {t.call('validate', doc).body.decode()}"
    for ptr in ("/user/name", "/user/langs/1", "/user/age"):
        r = t.call("extract", doc, query=f"pointer={ptr}")
        kind = dict(r.headers).get("x-json-type", "-")
        yield f"extract({ptr}) -> {r.http_status} {r.body.decode()}  type={kind}"
    yield f"select(config fields) -> {t.call('select', doc).body.decode()}"
    r = t.call("validate", b'{"a": [1, 2,]}')
    yield f"validate(trailing comma) -> {r.http_status} {r.body.decode()}"


STEPS: dict[str, Callable[[Tenant], Iterator[str]]] = {
    "json-filter-c": _json_filter,
    "etag-c": _etag,
    "hello-rust": _hello_rust,
    "similarity-rust": _similarity,
    "csv-ingest-rust": _csv_ingest,
    "hello-c": _hello,
}


def run(name: str, t: Tenant) -> Iterator[str]:
    """The demo lines for tenant ``name`` (a generic call if it has no script)."""
    steps = STEPS.get(name)
    if steps is None:
        export = t.handlers[0]
        r = t.call(export, DEMO_BODY)
        yield f"{export}({len(DEMO_BODY)} bytes) -> {r.body[:120]!r}"
        return
    yield from steps(t)
