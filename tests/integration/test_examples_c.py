"""Every C example builds from source and does its job; the SDK header
compiles warning-free for wasm32-wasi and freestanding wasm32."""

import json
import subprocess

import crc32c as crc32c_peer
import pytest
import wasmtime

from edgehost.errors import ConfigError
from edgehost.runtime.tenant import Tenant, load
from edgehost.toolchain import compilers as toolchain
from edgehost.wasm_config import manifest as manifest_mod
from edgehost.wasm_config import validate
from tests.support import REPO


def test_etag(built_examples):
    t = load(built_examples / "etag-c")
    body = b"some body" * 1000
    r = t.call("etag", body)
    want = f"{crc32c_peer.crc32c(body):08x}"
    assert r.body.decode() == want and dict(r.headers)["etag"] == f'"{want}"'
    r = t.call("verify", body, headers={"If-Match": f'"{want}"'})
    assert (r.http_status, r.body) == (200, b"match")
    r = t.call("verify", body + b"!", headers={"If-Match": f'"{want}"'})
    assert (r.http_status, r.body) == (412, b"mismatch")
    assert t.call("verify", body).http_status == 428


def test_hello_counts_visits_and_reads_config(built_examples, caplog):
    caplog.set_level("INFO")
    t = load(built_examples / "hello-c")
    assert t.call("hello", b"edge").body == b"hello, edge! (visit 1)"
    assert t.call("hello").body == b"hello, world! (visit 2)"
    assert any("hello handled a request" in r.getMessage() for r in caplog.records)


# ---- json-filter-c ----------------------------------------------------------

DOC = {"id": 7, "user": {"name": "ada", "a/b": [1, 2.5, None], "m~n": True},
       "tags": ["x", {"deep": [[-3]]}], "big": 18446744073709551615, "s": "é\"\\"}
POINTERS = ["", "/id", "/user", "/user/name", "/user/a~1b/1", "/user/m~0n", "/tags/1/deep/0/0",
            "/big", "/s", "/user/a~1b/2"]


def _resolve(doc, pointer: str):
    for tok in pointer.split("/")[1:]:
        tok = tok.replace("~1", "/").replace("~0", "~")
        doc = doc[int(tok)] if isinstance(doc, list) else doc[tok]
    return doc


def _json_filter(built_examples, iso: str, **config) -> Tenant:
    d = built_examples / "json-filter-c"
    man = manifest_mod.load(d)
    man.isolation = iso
    man.config.update(config)
    return Tenant(man)


@pytest.mark.parametrize("iso", ["inproc", pytest.param("kvm", marks=pytest.mark.kvm)])
def test_json_filter_extracts_like_python(built_examples, iso):
    t = _json_filter(built_examples, iso, fields=[*POINTERS[1:], "/missing", "/tags/9"])
    body = json.dumps(DOC, indent=2).encode()
    r = t.call("validate", body)
    assert r.http_status == 200 and json.loads(r.body)["valid"] is True
    for ptr in POINTERS:
        r = t.call("extract", body, query="pointer=" + ptr.replace("/", "%2F"))
        assert r.http_status == 200, (ptr, r.body)
        assert json.loads(r.body) == _resolve(DOC, ptr), ptr
    assert dict(t.call("extract", body, query="pointer=/big").headers)["x-json-type"] == "uint64"
    r = t.call("extract", body, headers={"x-json-pointer": "/user/name"})
    assert (r.http_status, r.body) == (200, b'"ada"')
    r = t.call("extract", body, query="pointer=/user/nobody")
    assert r.http_status == 404 and json.loads(r.body)["pointer"] == "/user/nobody"
    got = json.loads(t.call("select", body).body)
    assert got == {**{p: _resolve(DOC, p) for p in POINTERS[1:]}, "/missing": None,
                   "/tags/9": None}


@pytest.mark.parametrize("body, kind, offset", [
    (b'{"a": [1, 2,]}', "trailing-comma", 12),
    (b'{"a": 01}', "bad-number", 6),
    (b'["\xff"]', "invalid-utf8", 2),
    (rb'{"a": "\ud800"}', "lone-surrogate", 7),
    (b"", "empty", 0),
    (b"[[[[1]]]]", "too-deep", 3),
])
def test_json_filter_rejects_bad_input_with_400(built_examples, body, kind, offset):
    t = _json_filter(built_examples, "inproc", max_depth=3)
    for export, query in (("validate", ""), ("extract", "pointer=/a"), ("select", "")):
        r = t.call(export, body, query=query)
        assert r.http_status == 400, export
        assert json.loads(r.body) == {"error": kind, "offset": offset}, export
    r = t.call("extract", b"{}", query="pointer=a")
    assert (r.http_status, json.loads(r.body)["error"]) == (400, "bad-pointer")
    assert t.call("extract", b"{}").http_status == 400


def test_json_filter_refuses_a_bad_fields_config(built_examples):
    with pytest.raises(ConfigError, match="edgehost_configure"):
        _json_filter(built_examples, "inproc", fields=["/ok", 3]).call("select", b"{}")


C_SOURCES = {"tests/integration/tenants/msgpack_echo.c": ["echo"]}
C_SOURCES.update({str(src.relative_to(REPO)): None for src in sorted(REPO.glob("examples/*/*.c"))})


@pytest.mark.parametrize("target, flags", [
    ("wasm32-wasi", ["-mexec-model=reactor"]),
    ("wasm32", ["-nostdlib", "-ffreestanding", "-Wl,--no-entry"]),
])
@pytest.mark.parametrize("source", sorted(C_SOURCES))
def test_sdk_and_examples_are_warning_free(tmp_path, c_toolchain, target, flags, source):
    out = tmp_path / "t.wasm"
    proc = subprocess.run([c_toolchain.compiler, f"--target={target}", *flags, "-O2", "-Wall",
                           "-Wextra", "-Werror", f"-I{REPO / 'sdk/c'}", str(REPO / source),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    module = wasmtime.Module(wasmtime.Engine(), out.read_bytes())
    handlers = validate.check_module(module)
    assert handlers == C_SOURCES[source] if C_SOURCES[source] else handlers


def test_toolchain_reports_missing_packages(monkeypatch):
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    monkeypatch.setattr(toolchain.glob, "glob", lambda pattern: [])
    tc = toolchain.find_c()
    assert not tc.ok and "apt-get install clang" in tc.detail
