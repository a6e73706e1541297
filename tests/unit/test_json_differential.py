"""JSON kernels against trusted peers (hypothesis): every document the stdlib
writes must validate, minify to the same value and answer pointers like a
dict walk; on mutated (adversarial) bytes the verdict must match orjson's,
and every ISA variant must give the same kind and offset."""

from __future__ import annotations

import json
import os
import struct

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgehost.kernels import json as jk
from edgehost.kernels._common import use_variant
from tests.support import runnable_variants

# EDGEHOST_TEST_SCALE=20 runs 20x the examples (on demand; the default stays fast).
SCALE = int(os.environ.get("EDGEHOST_TEST_SCALE", "1"))
RUNNABLE = runnable_variants("json")
FAST = settings(max_examples=150 * SCALE, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


def _dump(value, ascii_, indent):
    return json.dumps(value, ensure_ascii=ascii_, indent=indent).encode()


@FAST
@given(values, st.booleans(), st.sampled_from([None, 0, 2]))
def test_generated_documents(value, ascii_, indent):
    doc = _dump(value, ascii_, indent)
    assert jk.json_check(doc, isolation="inproc") is None
    mini = jk.json_minify(doc, isolation="inproc")
    assert json.loads(mini) == value
    assert len(mini) == len(json.dumps(value, ensure_ascii=ascii_, separators=(",", ":")).encode())


def _tape_len(v) -> int:
    if isinstance(v, list):
        return 2 + sum(map(_tape_len, v))
    if isinstance(v, dict):
        return 2 + sum(1 + _tape_len(x) for x in v.values())
    return 1


@FAST
@given(values, st.sampled_from([None, 1]))
def test_tape_matches_structure(value, indent):
    doc = _dump(value, False, indent)
    tape = jk.json_tape(doc, isolation="inproc")
    assert len(tape) == _tape_len(value)
    for k, (off, link) in enumerate(tape):
        c = doc[off:off + 1]
        if c in (b"{", b"["):
            assert tape[link][1] == k and doc[tape[link][0]:][:1] == (b"}" if c == b"{" else b"]")
        elif c not in (b"}", b"]"):
            assert link == 0


def _paths(value, prefix=""):
    yield prefix, value
    if isinstance(value, dict):
        seen = set()
        for k, v in value.items():
            if k in seen:
                continue
            seen.add(k)
            yield from _paths(v, prefix + "/" + k.replace("~", "~0").replace("/", "~1"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, f"{prefix}/{i}")


@FAST
@given(values, st.booleans())
def test_pointer_matches_dict_walk(value, ascii_):
    doc = _dump(value, ascii_, None)
    for ptr, expected in list(_paths(value))[:20]:
        got = jk.json_pointer(doc, ptr, isolation="inproc").value()
        assert got == expected or (got != got and expected != expected)


def _orjson_verdict(doc: bytes) -> bool:
    try:
        orjson.loads(doc)
    except orjson.JSONDecodeError as exc:
        if "infinity" not in str(exc):
            return False
    else:
        return True
    # orjson also refuses numbers that overflow a double, RFC 8259 does not:
    # the stdlib (which reads them as inf) judges the rest of the document
    try:
        json.loads(doc.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


mutations = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    [b"", b",", b"]", b"}", b"\"", b"\\", b"\x00", b"\x1f", b"\xff", b"\xc3", b"\xed\xa0\x80",
     b"0", b"-", b".", b"e", b"t", b"\\u", b"\\ud800", b" ", b"\n"])), min_size=1, max_size=3)


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, mutations, st.booleans())
@example([1], [(1, b"")], True)
def test_adversarial_matches_orjson_and_variants(value, muts, delete):
    doc = bytearray(_dump(value, False, None))
    for pos, ins in muts:
        p = pos % (len(doc) + 1)
        if delete and p < len(doc):
            del doc[p]
        doc[p:p] = ins
    doc = bytes(doc)
    results = set()
    for name in RUNNABLE:
        with use_variant("json", name):
            results.add(jk.json_check(doc, max_depth=4096, isolation="inproc"))
    assert len(results) == 1, results
    (verdict,) = results
    assert (verdict is None) == _orjson_verdict(doc), (doc, verdict)
    if verdict is not None:
        assert 0 <= verdict[1] <= len(doc)


@pytest.mark.parametrize("size", [1, 63, 64, 65, 4095, 32768, 32769, 70000])
def test_variants_agree_on_prefixes(size):
    from edgehost.bench.json import twitter_like

    doc = twitter_like(80_000)[:size]
    results = set()
    for name in RUNNABLE:
        with use_variant("json", name):
            results.add(jk.json_check(doc, isolation="inproc"))
    assert len(results) == 1, results


number_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(1, 10**25), st.integers(-350, 330)),
    st.builds(lambda i, f, e: f"-{i}.{f}E+{e}", st.integers(0, 10**18), st.integers(0, 10**22),
              st.integers(0, 40)),
    st.sampled_from(["2.4703282292062327e-324", "2.4703282292062328e-324", "1e-400",
                     "1.7976931348623158e308", "1.7976931348623159e308", "9007199254740993.0",
                     "2.2250738585072011e-308", "0." + "0" * 30 + "1", "1" + "0" * 40]),
)


@settings(max_examples=500 * SCALE, deadline=None)
@given(number_texts)
def test_doubles_are_correctly_rounded(text):
    if "e" not in text.lower() and "." not in text:
        text += ".0"
    v = jk.json_pointer(text.encode(), "", isolation="inproc")
    assert v.type in ("double", "double-text")
    assert struct.pack("<d", v.value()) == struct.pack("<d", float(text))
