"""CRC32C differential tests against two PyPI implementations, on random
lengths 0..4096, random offsets (alignment) and random seeds, per variant."""

from __future__ import annotations

import crc32c as peer
import google_crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgehost.kernels import crc32c
from edgehost.kernels._common import use_variant
from tests.support import runnable_variants

RUNNABLE = runnable_variants("crc32c")


@pytest.mark.parametrize("variant", RUNNABLE)
@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=0, max_size=4096 + 63), offset=st.integers(0, 63),
       seed=st.integers(0, 2**32 - 1))
def test_matches_peers(variant, data, offset, seed):
    view = memoryview(data)[min(offset, len(data)):]
    with use_variant("crc32c", variant):
        got = crc32c(view, seed, isolation="inproc")
    assert got == peer.crc32c(view, seed)
    assert got == google_crc32c.extend(seed, bytes(view))
