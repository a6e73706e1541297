"""``[[check]]``: golden requests in the manifest, parsed strictly, and run
against a version before it takes traffic."""

from __future__ import annotations

import pathlib

import pytest

from edgehost.errors import ConfigError
from edgehost.kernels.crc32c import crc32c
from edgehost.reload import canary, files, pipeline
from edgehost.wasm_config import manifest as manifest_mod
from tests.reload import support


def _man(tmp_path: pathlib.Path, checks: str):
    d = support.make_tenant(tmp_path, "chk", checks=checks)
    return manifest_mod.load(d)


def test_a_full_check_entry(tmp_path):
    (tmp_path / "chk").mkdir()
    (tmp_path / "chk" / "req.bin").write_bytes(b"\x00\x01")
    man = _man(tmp_path, '''
[[check]]
name = "greets"
path = "/hello?a=1"
method = "PUT"
headers = { "X-User" = "ada" }
body_file = "req.bin"
expect_status = 200
expect_crc32c = "0000abcd"
deadline_ms = 50
''')
    (c,) = man.checks
    assert (c.name, c.route, c.export, c.query, c.method) == ("greets", "/hello", "hello",
                                                              "a=1", "PUT")
    assert c.headers == (("x-user", "ada"),) and c.body == b"\x00\x01"
    assert (c.expect_status, c.expect_crc32c, c.expect_body, c.deadline_ms) == \
        (200, 0xABCD, None, 50)


@pytest.mark.parametrize("entry, field, words", [
    ('path = "/nope"', "check[0].path", "not a route"),
    ('path = "hello"', "check[0].path", "starting with '/'"),
    ('path = "/hello"\nbody = "a"\nbody_file = "b"', "check[0].body", "not both"),
    ('path = "/hello"\nexpect_body = "a"\nexpect_crc32c = "00000000"', "check[0].expect_body",
     "not both"),
    ('path = "/hello"\nexpect_crc32c = "xyz"', "check[0].expect_crc32c", "8 hex digits"),
    ('path = "/hello"\nexpect_status = 42', "check[0].expect_status", "100..599"),
    ('path = "/hello"\nmethod = "get"', "check[0].method", "capitals"),
    ('path = "/hello"\nbody_file = "../../etc/passwd"', "check[0].body_file", "outside"),
    ('path = "/hello"\nbody_file = "missing.bin"', "check[0].body_file", "cannot read"),
    ('path = "/hello"\nbogus = 1', "check[0].bogus", "unknown field"),
    ('path = "/hello"\ndeadline_ms = 0', "check[0].deadline_ms", "1..600000"),
])
def test_bad_entries_name_file_and_field(tmp_path, entry, field, words):
    with pytest.raises(ConfigError) as exc:
        _man(tmp_path, f"\n[[check]]\n{entry}\n")
    assert exc.value.field == field and words in str(exc.value)
    assert str(tmp_path / "chk" / "edgehost.toml") in str(exc.value)


def _loaded(tmp_path, checks: str, **kw):
    d = support.make_tenant(tmp_path, "chk", checks=checks, **kw)
    return pipeline.load(files.read(d), run_checks=False)


def test_checks_pass_and_fail_for_the_right_reasons(tmp_path):
    want = support.answer("v1")
    loaded = _loaded(tmp_path, '''
[[check]]
path = "/hello"
expect_body = "replaced below (the answer holds a msgpack byte)"
''')
    tenant = loaded.tenant
    man = loaded.files.manifest

    def run(**kw):
        c = man.checks[0]
        return canary.run_one(tenant, type(c)(**{**c.__dict__, **kw}))

    assert run(expect_body=want).ok
    r = run(expect_body=b"v2|")
    assert not r.ok and "expected 'v2|'" in r.reason
    assert run(expect_body=None, expect_crc32c=crc32c(want)).ok
    r = run(expect_body=None, expect_crc32c=crc32c(want) ^ 1)
    assert not r.ok and "CRC32C" in r.reason
    r = run(expect_status=201)
    assert not r.ok and "status 200" in r.reason and "expected 201" in r.reason


def test_a_failing_check_rejects_the_version(tmp_path):
    d = support.make_tenant(tmp_path, "chk", checks='''
[[check]]
name = "wants v2"
path = "/hello"
expect_crc32c = "00000000"
''')
    with pytest.raises(pipeline.Rejected) as exc:
        pipeline.load(files.read(d))
    assert "check 'wants v2' failed" in exc.value.reason
    assert exc.value.file.endswith("chk.wasm")


def test_a_check_over_its_deadline_rejects(tmp_path):
    slow = support.module("slow", rounds=0)
    d = support.make_tenant(tmp_path, "chk", wasm=slow, checks='''
[[check]]
path = "/hello"
deadline_ms = 1
''')
    man = manifest_mod.load(d)
    loaded = pipeline.load(files.read(d), run_checks=False)
    import time

    real = loaded.tenant.call

    def slow_call(*a, **kw):
        time.sleep(0.01)
        return real(*a, **kw)

    loaded.tenant.call = slow_call
    r = canary.run_one(loaded.tenant, man.checks[0])
    assert not r.ok and "over its deadline_ms=1" in r.reason
