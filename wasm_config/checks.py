"""Golden requests (``[[check]]`` in a manifest): what a new version of a
tenant must answer correctly before it takes traffic.

Example::

    [[check]]
    name = "greets"                   # optional; the log and status name it
    path = "/hello?lang=en"           # a route of [routes] (handlers see it as is)
    method = "POST"                   # default: POST with a body, else GET
    headers = { "x-user" = "ada" }
    body = "ada"                      # or body_file = "checks/ada.bin" (inside the tenant)
    expect_status = 200               # default 200
    expect_body = "hello, ada!"       # or expect_crc32c = "1a2b3c4d" (of the body)
    deadline_ms = 50                  # default: the tenant's limits.deadline_ms

A check passes when the handler answers with ``expect_status`` and (when
given) the expected body or CRC32C, within ``deadline_ms`` of wall time.
Every problem in the table is a :class:`ConfigError` naming file and field.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

from edgehost.wasm_config.errors import ConfigError

MAX_CHECKS = 64
MAX_BODY = 16 << 20
_HEX8 = re.compile(r"^[0-9a-fA-F]{8}$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")

# Every field of a [[check]] entry with its meaning (sdk/README.md's reference
# is generated from this).
FIELDS = {
    "name": "a label for logs and `edgehost status` (default `check N`)",
    "path": "required: a route of `[routes]`, optionally with `?query`",
    "method": "HTTP method (default `POST` when there is a body, else `GET`)",
    "headers": "table of request headers",
    "body": "request body (a string)",
    "body_file": "request body from a file inside the tenant's directory",
    "expect_status": "expected HTTP status (default 200)",
    "expect_body": "expected response body (a string)",
    "expect_crc32c": "expected CRC32C of the response body, 8 hex digits",
    "deadline_ms": "the answer must come within this wall time (default `limits.deadline_ms`)",
}


@dataclasses.dataclass(frozen=True)
class Check:
    """One golden request and its expected answer (validated)."""

    name: str
    route: str                     # the [routes] key
    export: str                    # the handler it names
    query: str
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    expect_status: int
    expect_body: bytes | None
    expect_crc32c: int | None
    deadline_ms: int


def parse(raw, manifest_path: pathlib.Path, routes: dict[str, str],
          default_deadline_ms: int) -> list[Check]:
    """The validated ``[[check]]`` entries of a manifest (``raw`` as TOML gave it)."""
    path = str(manifest_path)
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise ConfigError("must be an array of tables ([[check]] entries)", path=path,
                          field="check")
    if len(raw) > MAX_CHECKS:
        raise ConfigError(f"{len(raw)} checks: at most {MAX_CHECKS}", path=path, field="check")
    return [_one(c, i, manifest_path, routes, default_deadline_ms) for i, c in enumerate(raw)]


def _one(c: dict, i: int, manifest_path: pathlib.Path, routes: dict[str, str],
         default_deadline_ms: int) -> Check:
    path = str(manifest_path)
    where = f"check[{i}]"

    def need(cond: bool, fld: str, msg: str) -> None:
        if not cond:
            raise ConfigError(msg, path=path, field=f"{where}.{fld}")

    unknown = sorted(set(c) - set(FIELDS))
    need(not unknown, ",".join(unknown), "unknown field")
    name = c.get("name", f"check {i}")
    need(isinstance(name, str) and 0 < len(name) <= 128, "name", "must be a short string")
    target = c.get("path")
    need(isinstance(target, str) and target.startswith("/"), "path",
         "required: a route path starting with '/'")
    route, _, query = target.partition("?")
    need(route in routes, "path",
         f"{route!r} is not a route of [routes] ({', '.join(sorted(routes)) or 'none'})")
    headers = c.get("headers", {})
    need(isinstance(headers, dict) and all(isinstance(k, str) and _HEADER.match(k)
                                           and isinstance(v, str) for k, v in headers.items()),
         "headers", "must be a table of header names to string values")
    need(not ("body" in c and "body_file" in c), "body", "give body or body_file, not both")
    body = b""
    if "body" in c:
        need(isinstance(c["body"], str), "body", "must be a string (use body_file for bytes)")
        body = c["body"].encode()
    elif "body_file" in c:
        body = _read_body_file(c["body_file"], manifest_path, need, f"{where}.body_file")
    method = c.get("method", "POST" if body else "GET")
    need(isinstance(method, str) and bool(_METHOD.match(method)), "method",
         "must be an HTTP method in capitals")
    status = c.get("expect_status", 200)
    need(isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599,
         "expect_status", "must be an HTTP status (100..599)")
    need(not ("expect_body" in c and "expect_crc32c" in c), "expect_body",
         "give expect_body or expect_crc32c, not both")
    expect_body = None
    if "expect_body" in c:
        need(isinstance(c["expect_body"], str), "expect_body", "must be a string")
        expect_body = c["expect_body"].encode()
    crc = None
    if "expect_crc32c" in c:
        need(isinstance(c["expect_crc32c"], str) and bool(_HEX8.match(c["expect_crc32c"])),
             "expect_crc32c", "must be 8 hex digits")
        crc = int(c["expect_crc32c"], 16)
    deadline = c.get("deadline_ms", default_deadline_ms)
    need(isinstance(deadline, int) and not isinstance(deadline, bool)
         and 1 <= deadline <= 600_000, "deadline_ms", "must be an integer in 1..600000")
    return Check(name=name, route=route, export=routes[route], query=query, method=method,
                 headers=tuple(sorted((k.lower(), v) for k, v in headers.items())), body=body,
                 expect_status=status, expect_body=expect_body, expect_crc32c=crc,
                 deadline_ms=deadline)


def _read_body_file(value, manifest_path: pathlib.Path, need, field: str = "") -> bytes:
    need(isinstance(value, str) and value != "", "body_file", "must be a file name")
    base = manifest_path.parent
    p = (base / value)
    need(not pathlib.PurePath(value).is_absolute() and p.resolve().is_relative_to(
        base.resolve()), "body_file", f"{value!r} is outside the tenant's directory")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BODY + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {value}: {exc.strerror}", path=str(manifest_path),
                          field=field) from None
    need(len(data) <= MAX_BODY, "body_file", f"larger than {MAX_BODY} bytes")
    return data
