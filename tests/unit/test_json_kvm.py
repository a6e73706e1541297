"""The CSV and JSON kernels in the KVM guest give the in-process answers
(errors, offsets, outputs, tapes, converted numbers). Marked kvm; skipped,
with the reason, where /dev/kvm is not usable."""

from __future__ import annotations

import pytest

from edgehost import isolation
from edgehost.kernels import csv as ck
from edgehost.kernels import json as jk

from .test_json_kernel import DOC, INVALID, VALID

pytestmark = pytest.mark.kvm
_ok, _why = isolation.kvm_status()
if not _ok:
    pytest.skip(f"KVM UNAVAILABLE -- not tested: {_why}", allow_module_level=True)


@pytest.mark.parametrize("doc", VALID + [d for d, _, _ in INVALID])
def test_json_check_same_in_guest(doc):
    assert jk.json_check(doc, isolation="kvm") == jk.json_check(doc, isolation="inproc")


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
