"""The CSV and JSON kernels in the KVM guest give the in-process answers
(errors, offsets, outputs, tapes, converted numbers), on documents and on
every one-byte mutation of them."""

from __future__ import annotations

import random

import pytest

from edgehost.kernels import csv as ck
from edgehost.kernels import json as jk

pytestmark = pytest.mark.kvm

DOC = b'{"a":[1,-2,{"b":null}],"c":"x\\u00e9y","d~/":1.5,"\\u00e9":18446744073709551615,' \
      b'"big":-9223372036854775809,"min":-9223372036854775808,"":0}'
DOCS = [DOC, b'[1,[2,[3,{"x":{}}]]]', b' \t\n\r[1e5, -0.5, "\\ud83d\\ude00"] \n',
        '{"é":["東京", true, false, null]}'.encode()]
BYTES = b'{}[]:,"\\ \n0123456789.eE+-tfnul\x00\x1f\x7f\xc3\xa9\xe2\x82\xff'


@pytest.mark.parametrize("doc", DOCS)
def test_json_check_same_in_guest_on_mutations(doc):
    """Valid documents and 40 one-byte mutations of each (replaced, dropped or
    inserted): same verdict, error kind and offset in both isolations."""
    rnd = random.Random(doc)
    cases = [doc]
    for _ in range(40):
        i, c = rnd.randrange(len(doc)), rnd.choice(BYTES)
        op = rnd.randrange(3)
        cases.append(doc[:i] + bytes([c]) + doc[i + (op != 2):] if op else doc[:i] + doc[i + 1:])
    for d in cases:
        assert jk.json_check(d, isolation="kvm") == jk.json_check(d, isolation="inproc"), d


def test_json_outputs_same_in_guest():
    from edgehost.bench.json import citm_like, twitter_like

    for doc in (twitter_like(100_000), citm_like(100_000), DOC):
        assert jk.json_minify(doc, isolation="kvm") == jk.json_minify(doc, isolation="inproc")
        assert jk.json_tape(doc, isolation="kvm") == jk.json_tape(doc, isolation="inproc")
    for ptr in ("/a/1", "/d~0~1", "/é", "/big", "/c"):
        assert jk.json_pointer(DOC, ptr, isolation="kvm") == jk.json_pointer(DOC, ptr,
                                                                             isolation="inproc")


def test_csv_same_in_guest():
    from edgehost.bench.csv import mixed_csv

    data = mixed_csv(300_000)
    assert ck.csv_index(data, isolation="kvm").ends == ck.csv_index(data, isolation="inproc").ends
    assert ck.csv_rows(data, isolation="kvm") == ck.csv_rows(data, isolation="inproc")
    for bad, strict in ((b'a,"bc', False), (b'ab"c,d', True), (b'"ab"c,d', True)):
        with pytest.raises(ck.CsvError) as k:
            ck.csv_rows(bad, strict=strict, isolation="kvm")
        with pytest.raises(ck.CsvError) as p:
            ck.csv_rows(bad, strict=strict, isolation="inproc")
        assert (k.value.kind, k.value.offset) == (p.value.kind, p.value.offset)
