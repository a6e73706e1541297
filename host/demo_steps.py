"""What ``edgehost demo`` does with each bundled example: a few real calls
whose outputs are printed, so a reader sees every kernel at work."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from host.tenant import Tenant

DEMO_BODY = b"edgehost demo: hello from the host\n"


def _etag(t: Tenant) -> Iterator[str]:
    r = t.call("etag", DEMO_BODY)
    yield f"etag({len(DEMO_BODY)} bytes) -> {r.body.decode()}  headers={dict(r.headers)}"
    etag = dict(r.headers)["etag"]
    r = t.call("verify", DEMO_BODY, headers={"If-Match": etag})
    yield f"verify(matching If-Match) -> {r.http_status} {r.body.decode()}"
    r = t.call("verify", DEMO_BODY + b"tampered", headers={"If-Match": etag})
    yield f"verify(tampered body)     -> {r.http_status} {r.body.decode()}"


STEPS: dict[str, Callable[[Tenant], Iterator[str]]] = {
    "etag-c": _etag,
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
