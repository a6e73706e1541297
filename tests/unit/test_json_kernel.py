"""JSON kernel vectors, run against every ISA variant (skipped where the CPU
lacks it): validity, error kind and byte offset, minify, pointer, depth."""

from __future__ import annotations

import json

import pytest

from edgehost.kernels import json as jk
from edgehost.kernels._common import use_variant
from tests.support import native_variants

VARIANTS = native_variants("json")

VALID = [
    b"0", b"-0", b"1.5e10", b"-12.75E-3", b"[]", b"{}", b'""', b"true", b"false", b"null",
    b'{"a":[true,false,null]}', b' \t\n\r[1] \n', b'"\\u00e9\\ud83d\\ude00"',
    '"é😀東京"'.encode(), b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', b'[1,[2,[3,{"x":{}}]]]',
    b'"\x7f"', b"18446744073709551616", b"1e400", b'{"a":1,"a":2}',
]

INVALID = [
    (b"", "empty", 0), (b"  \n", "empty", 0), (b"[1,2,]", "trailing-comma", 5),
    (b'{"a":1,}', "trailing-comma", 7), (b"01", "bad-number", 0), (b"[-01]", "bad-number", 1),
    (b"1.", "bad-number", 0), (b"1.e5", "bad-number", 0), (b"1e", "bad-number", 0),
    (b"-", "bad-number", 0), (b"+1", "bad-literal", 0), (b".5", "bad-literal", 0),
    (b'"\\ud800"', "lone-surrogate", 1), (b'"\\udc00"', "lone-surrogate", 1),
    (b'"\\ud800\\u0041"', "lone-surrogate", 1), (b'"abc', "unterminated-string", 0),
    (b"[", "unexpected-end", 1), (b'{"a":', "unexpected-end", 5), (b"tru", "bad-literal", 0),
    (b"truex", "bad-literal", 0), (b"[true false]", "expected-comma-or-close", 6),
    (b'"\x01"', "control-character", 1), (b'"a\nb"', "control-character", 2),
    (b"[1,\x0c2]", "control-character", 3), (b'"\xff"', "invalid-utf8", 1),
    (b'"\xc0\x80"', "invalid-utf8", 1), (b'"\xed\xa0\x80"', "invalid-utf8", 1),
    (b'"\xf4\x90\x80\x80"', "invalid-utf8", 1), (b'"\xe2\x82"', "invalid-utf8", 1),
    (b'"\\x"', "bad-escape", 1), (b'"\\u12g4"', "bad-escape", 1), (b'{"a" 1}', "expected-colon", 5),
    (b"[1}", "expected-comma-or-close", 2), (b"{1:2}", "expected-key", 1),
    (b'{"a":1,2}', "expected-key", 7), (b"[1]x", "trailing-content", 3),
    (b"[1] [2]", "trailing-content", 4), (b"[,1]", "expected-value", 1),
    (b'{"a":}', "expected-value", 5), (b"NaN", "bad-literal", 0),
    (b"\xef\xbb\xbf[]", "bad-literal", 0),
    (b'["a"x]', "expected-comma-or-close", 4), (b"[1\"a\"]", "expected-comma-or-close", 2),
]


@pytest.fixture(params=VARIANTS)
def variant(request):
    with use_variant("json", request.param):
        yield request.param


@pytest.mark.parametrize("doc", VALID)
def test_valid(variant, doc):
    assert jk.json_check(doc, isolation="inproc") is None


@pytest.mark.parametrize("doc,kind,offset", INVALID)
def test_invalid(variant, doc, kind, offset):
    assert jk.json_check(doc, isolation="inproc") == (kind, offset)


@pytest.mark.parametrize("shift", [0, 1, 30, 58, 59, 60, 61, 62, 63, 64, 65, 127, 128, 200])
@pytest.mark.parametrize("bad,kind,delta", [
    (b"\xe2\x82", "invalid-utf8", 0), (b"\x01", "control-character", 0),
    (b"\\q", "bad-escape", 0), (b"\\ud83d", "lone-surrogate", 0),
    (b"\xf0\x9f\x98", "invalid-utf8", 0),
])
def test_errors_across_blocks(variant, shift, bad, kind, delta):
    """An error inside a long string lands at every position of a 64-byte block."""
    doc = b'["' + b"a" * shift + bad + b'"]'
    assert jk.json_check(doc, isolation="inproc") == (kind, 2 + shift + delta)


@pytest.mark.parametrize("run", [1, 2, 3, 63, 64, 65, 128])
def test_backslash_runs_across_blocks(variant, run):
    for pad in (0, 1, 30, 60, 61, 62, 63):
        inner = b"x" * pad + b"\\" * run
        doc = b'["' + inner + (b'"' if run % 2 else b'') + b'"]'
        assert jk.json_check(doc, isolation="inproc") is None, (pad, run)
        assert json.loads(doc) is not None


def test_depth(variant):
    assert jk.json_check(b"[" * 1024 + b"]" * 1024, isolation="inproc") is None
    assert jk.json_check(b"[" * 1025 + b"]" * 1025, isolation="inproc") == ("too-deep", 1024)
    assert jk.json_check(b'{"a":' * 5 + b"1" + b"}" * 5, max_depth=4,
                         isolation="inproc") == ("too-deep", 20)


def test_minify(variant):
    doc = b' { "a b" : [ 1 , "x \\" y" , { } ] ,\n "c":\ttrue } '
    assert jk.json_minify(doc, isolation="inproc") == b'{"a b":[1,"x \\" y",{}],"c":true}'
    big = json.dumps({"k": [{"x": i, "s": " s p a c e "} for i in range(3000)]}, indent=3)
    mini = jk.json_minify(big.encode(), isolation="inproc")
    assert mini == json.dumps(json.loads(big), separators=(",", ":")).encode()


DOC = b'{"a":[1,-2,{"b":null}],"c":"x\\u00e9y","d~/":1.5,"\\u00e9":18446744073709551615,' \
      b'"big":-9223372036854775809,"min":-9223372036854775808,"":0}'


@pytest.mark.parametrize("ptr,text,type_,value", [
    ("", DOC, "object", json.loads(DOC)),
    ("/a", b'[1,-2,{"b":null}]', "array", [1, -2, {"b": None}]),
    ("/a/1", b"-2", "int64", -2), ("/a/2/b", b"null", "null", None),
    ("/c", b'"x\\u00e9y"', "string", "xéy"), ("/d~0~1", b"1.5", "double", 1.5),
    ("/é", b"18446744073709551615", "uint64", 2**64 - 1),
    ("/big", b"-9223372036854775809", "bigint", -(2**63) - 1),
    ("/min", b"-9223372036854775808", "int64", -(2**63)), ("/", b"0", "int64", 0),
])
def test_pointer(variant, ptr, text, type_, value):
    v = jk.json_pointer(DOC, ptr, isolation="inproc")
    assert (v.text, v.type, v.value()) == (text, type_, value)
    assert DOC[v.offset:v.offset + len(v.text)] == text


@pytest.mark.parametrize("ptr", ["/a/3", "/a/01", "/a/-", "/zz", "/c/0", "/a/x"])
def test_pointer_not_found(ptr):
    with pytest.raises(jk.JsonNotFound):
        jk.json_pointer(DOC, ptr, isolation="inproc")


@pytest.mark.parametrize("ptr,offset", [("a", 0), ("/a~", 2), ("/~2", 1)])
def test_pointer_syntax(ptr, offset):
    with pytest.raises(jk.JsonError) as ei:
        jk.json_pointer(DOC, ptr, isolation="inproc")
    assert (ei.value.kind, ei.value.offset) == ("bad-pointer", offset)


def test_pointer_rejects_invalid_document():
    with pytest.raises(jk.JsonError) as ei:
        jk.json_pointer(b'{"a":1,}', "/a", isolation="inproc")
    assert ei.value.kind == "trailing-comma"


def test_large_documents_cross_chunks(variant):
    from edgehost.bench.json import canada_like, citm_like, twitter_like

    for doc in (twitter_like(200_000), citm_like(150_000), canada_like(100_000)):
        assert jk.json_check(doc, isolation="inproc") is None
        assert json.loads(jk.json_minify(doc, isolation="inproc")) == json.loads(doc)
        cut = doc[: len(doc) - 1]
        assert jk.json_check(cut, isolation="inproc") == ("unexpected-end", len(cut))


def test_kvm_isolation_is_never_silently_downgraded():
    """isolation="kvm" either runs in the guest (and answers what inproc
    answers) or raises IsolationUnavailable -- never falls back quietly to
    inproc where KVM is missing. Which one is decided by the project's one KVM
    check, so this test runs (and can fail) on machines with and without KVM."""
    from edgehost import isolation
    from edgehost.errors import IsolationUnavailable

    doc = b'{"a":[1,2,{"b":null}],"c":"x"}'
    usable, _ = isolation.kvm_status()
    if usable:
        assert jk.json_validate(doc, isolation="kvm") == jk.json_validate(doc, isolation="inproc")
        with pytest.raises(jk.JsonError) as ei:
            jk.json_validate(b"[1,2,]", isolation="kvm")
        assert (ei.value.kind, ei.value.offset) == ("trailing-comma", 5)
    else:
        with pytest.raises(IsolationUnavailable):
            jk.json_validate(doc, isolation="kvm")


def test_kvm_request_without_kvm_raises_with_the_reason(monkeypatch):
    """The unusable-KVM branch above, run on every machine: the one KVM check
    says no, so isolation="kvm" raises (naming why) instead of running inproc."""
    from edgehost import isolation
    from edgehost.errors import IsolationUnavailable

    monkeypatch.setattr(isolation, "kvm_status", lambda: (False, "/dev/kvm: test says no"))
    with pytest.raises(IsolationUnavailable, match="test says no"):
        jk.json_validate(b"[]", isolation="kvm")


def test_environment_pins_variant():
    import os
    import subprocess
    import sys

    code = ("from edgehost.native import kernels_lib, ffi; lib = kernels_lib(); "
            "print(ffi.string(lib.eh_json_variant()).decode(), "
            "ffi.string(lib.eh_csv_variant()).decode())")
    env = dict(os.environ, EDGEHOST_KERNEL_VARIANT="json=scalar,csv=scalar")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["scalar", "scalar"], out.stderr


def test_tape(variant):
    doc = b'{"a":[1,{"b":null}],"c":"x"}'
    assert jk.json_tape(doc, isolation="inproc") == [
        (0, 11), (1, 0), (5, 8), (6, 0), (8, 7), (9, 0), (13, 0), (17, 4), (18, 2), (20, 0),
        (24, 0), (27, 0)]
    assert jk.json_tape(b" 7 ", isolation="inproc") == [(1, 0)]


def _raw(kernel, doc, out_cap, pointer=b"", flags=0):
    """One kernel call with an exact out_cap; returns (res, out bytes)."""
    from edgehost.native import ffi, kernels_lib

    req, res = ffi.new("eh_offload_req *"), ffi.new("eh_offload_res *")
    keep = [ffi.from_buffer(doc), ffi.from_buffer(pointer), ffi.new("uint32_t[]", out_cap // 4 + 1)]
    req.kernel, req.flags = kernel, flags
    setattr(req, "in", int(ffi.cast("uintptr_t", keep[0])))
    req.in_len, req.in2, req.in2_len = len(doc), int(ffi.cast("uintptr_t", keep[1])), len(pointer)
    req.out, req.out_cap = int(ffi.cast("uintptr_t", keep[2])), out_cap
    kernels_lib().eh_kernel_run(req, res)
    return res, bytes(ffi.buffer(keep[2], out_cap))


def test_enospc_reports_what_is_needed():
    doc = b"[" + b"1," * 5000 + b"1]"
    base = jk.scratch_size(len(doc))
    res, _ = _raw(jk.KERNEL_VALIDATE, doc, base - 4)
    assert (res.status, res.out_len) == (-2, base)
    res, _ = _raw(jk.KERNEL_VALIDATE, doc, base, flags=jk.F_TAPE)  # tape does not fit
    assert res.status == -2 and res.out_len > base
    need = res.out_len
    res, out = _raw(jk.KERNEL_VALIDATE, doc, need, flags=jk.F_TAPE)
    assert (res.status, res.value, res.out_len) == (0, 5003, 8 * 5003)
    spaced = b" [ 1 ,  2 ] " * 1 + b" " * 20000
    res, _ = _raw(jk.KERNEL_MINIFY, spaced, jk.scratch_size(len(spaced)))
    assert (res.status, res.out_len) == (0, 5)
    res, _ = _raw(jk.KERNEL_POINTER, doc, need, pointer=b"/4999")
    assert (res.status, res.out_len, res.err_offset) == (0, 1, 1 + 2 * 4999)
    assert jk.json_pointer(doc, "/5000", isolation="inproc").value() == 1  # retried internally


def test_minify_enospc_then_exact():
    doc = b'["' + b"x" * 200_000 + b'", 1]'
    cap = jk.scratch_size(len(doc))
    assert cap < len(doc)
    res, _ = _raw(jk.KERNEL_MINIFY, doc, cap)
    assert (res.status, res.out_len) == (-2, len(doc) - 1)
    res, out = _raw(jk.KERNEL_MINIFY, doc, len(doc) - 1)
    assert res.status == 0 and out[: res.out_len] == doc.replace(b", 1]", b",1]")
