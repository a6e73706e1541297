"""UTF-8 validation of the JSON kernels against Python's decoder on every
2-byte sequence and a dense sample of 3- and 4-byte ones, placed so that
they straddle a 64-byte block boundary, for every ISA variant."""

from __future__ import annotations

import itertools

import pytest

from edgehost.kernels import json as jk
from edgehost.kernels._common import use_variant
from tests.support import native_variants

VARIANTS = native_variants("json")
EDGES = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF]


def sequences():
    for b0, b1 in itertools.product(range(0x80, 0x100), range(0x100)):
        yield bytes([b0, b1])
    for b0, b1, b2 in itertools.product(range(0xE0, 0xF0), range(0x70, 0xD0, 3), EDGES):
        yield bytes([b0, b1, b2])
    for b0, b1, b2, b3 in itertools.product(range(0xF0, 0xF8), range(0x70, 0xD0, 7), EDGES[2:],
                                            EDGES[2:]):
        yield bytes([b0, b1, b2, b3])


def valid(seq: bytes) -> bool:
    try:
        seq.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("variant", VARIANTS)
def test_sequences_match_python(variant):
    good, bad = [], []
    for seq in sequences():
        (good if valid(seq) else bad).append(seq)
    with use_variant("json", variant):
        # valid ones in bulk: any false rejection fails the whole string
        for k in range(0, len(good), 4096):
            doc = b'["' + b"a" * 61 + b"".join(good[k:k + 4096]) + b'"]'
            assert jk.json_check(doc, isolation="inproc") is None
        for seq in bad:
            doc = b'["' + b"a" * 61 + seq + b'"]'
            kind, off = jk.json_check(doc, isolation="inproc")
            assert kind in ("invalid-utf8", "control-character", "unterminated-string"), seq
            if kind == "invalid-utf8":
                assert 63 <= off < 63 + len(seq), (seq, off)
