"""CSV kernel vectors, run against every ISA variant (skipped where the CPU
lacks it): dialects, quoting, CRLF, errors with offsets, index layout."""

from __future__ import annotations

import pytest

from edgehost.kernels import csv as ck
from edgehost.kernels._common import use_variant
from tests.support import native_variants

VARIANTS = native_variants("csv")


@pytest.fixture(params=VARIANTS)
def variant(request):
    with use_variant("csv", request.param):
        yield request.param


def rows(data, **kw):
    return ck.csv_rows(data, isolation="inproc", **kw)


@pytest.mark.parametrize("data,expected", [
    (b"", []),
    (b"a", [[b"a"]]),
    (b"a,b\n", [[b"a", b"b"]]),
    (b"a,b\r\nc,d\r\n", [[b"a", b"b"], [b"c", b"d"]]),
    (b"a,,\n,\n", [[b"a", b"", b""], [b"", b""]]),
    (b'"a,b","c\nd","e""f"\n', [[b"a,b", b"c\nd", b'e"f']]),
    (b'"",""""\n', [[b"", b'"']]),
    (b"a\n\nb\n", [[b"a"], [], [b"b"]]),
    (b'""\n', [[b""]]),
    (b'x\r\n"q\r\n"\r\n', [[b"x"], [b"q\r\n"]]),
    (b"a\rb,c", [[b"a\rb", b"c"]]),
    (b'a"b,c', [[b'a"b', b"c"]]),
    (b'"ab"c,d', [[b"abc", b"d"]]),
    (b'"ab"c"d",e', [[b'abc"d"', b"e"]]),
    (b"last,row", [[b"last", b"row"]]),
    (b"a,b,", [[b"a", b"b", b""]]),
])
def test_rows(variant, data, expected):
    assert rows(data) == expected


def test_dialect(variant):
    assert rows(b"a;'b;c';'d''e'\n", delimiter=";", quote="'") == [[b"a", b"b;c", b"d'e"]]
    assert rows(b"a\tb\n", delimiter="\t") == [[b"a", b"b"]]


@pytest.mark.parametrize("data,strict,kind,offset", [
    (b'a,"bc', False, "unterminated-quote", 2),
    (b'a,"b""c', True, "unterminated-quote", 2),
    (b'x\n"a""b",c\n"d', False, "unterminated-quote", 11),
    (b'ab"c,d', True, "quote-in-unquoted-field", 2),
    (b'"ab"c,d', True, "unexpected-after-closing-quote", 4),
    (b'"ab"\rx', True, "unexpected-after-closing-quote", 4),
])
def test_errors(variant, data, strict, kind, offset):
    with pytest.raises(ck.CsvError) as ei:
        rows(data, strict=strict)
    assert (ei.value.kind, ei.value.offset) == (kind, offset)


def test_strict_accepts_rfc4180(variant):
    data = b'"a","b""c"\r\n"d\r\ne",f\r\n"g"\r'
    assert rows(data, strict=True) == [[b"a", b'b"c'], [b"d\r\ne", b"f"], [b"g"]]


@pytest.mark.parametrize("shift", [0, 1, 60, 61, 62, 63, 64, 65, 127, 128])
def test_errors_across_blocks(variant, shift):
    pad = b"x" * shift
    with pytest.raises(ck.CsvError) as ei:
        rows(pad + b',"ab"c', strict=True)
    assert ei.value.offset == shift + 5
    with pytest.raises(ck.CsvError) as ei:
        rows(pad + b',a"', strict=True)
    assert ei.value.offset == shift + 2
    with pytest.raises(ck.CsvError) as ei:
        rows(pad + b',"' + b"y" * shift)
    assert ei.value.offset == shift + 1
    assert rows(pad + b',"q' + pad + b'""z"\n') == [[pad, b"q" + pad + b'"z']]


def test_ragged(variant):
    data = b"a,b\nc\n\nd,e\nf,g,h\n"
    assert ck.csv_index(data, isolation="inproc").ragged_rows() == [1, 4]
    with pytest.raises(ck.CsvError) as ei:
        ck.csv_index(data, rectangular=True, isolation="inproc")
    assert (ei.value.kind, ei.value.offset) == ("ragged-row", 4)
    ck.csv_index(b"a,b\n\nc,d\n", rectangular=True, isolation="inproc")


def test_index_layout(variant):
    data = b'a,"b,c"\r\nd,e'
    idx = ck.csv_index(data, isolation="inproc")
    assert list(idx.ends) == [1, 8, 10, 12]
    assert idx.row_count == 2
    assert idx.spans() == [[(0, 1), (2, 7)], [(9, 10), (11, 12)]]


def test_index_grows_output(variant):
    data = b",\n" * 5000  # more fields than the first output guess
    idx = ck.csv_index(data, isolation="inproc")
    assert len(idx.ends) == 10000 and idx.row_count == 5000


def test_bad_dialect():
    with pytest.raises(ck.CsvError):
        rows(b"a", delimiter='"')
    with pytest.raises(ck.CsvError):
        rows(b"a", delimiter=",,")
    with pytest.raises(ck.CsvError):
        rows(b"a", delimiter="\0")
