"""CRC32C: one set of vectors run against every variant (skipped only where
this CPU lacks the instructions), plus boundaries of every code path."""

from __future__ import annotations

import os
import random

import crc32c as peer
import pytest

from edgehost.kernels import crc32c
from edgehost.kernels._common import call, use_variant, variants
from edgehost.native import kernels_lib

VARIANTS = [name for name, _ in variants("crc32c")]
RUNNABLE = dict(variants("crc32c"))

# RFC 3720 appendix B.4 (values read as little-endian 32-bit words) and the check value.
VECTORS = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]

# Lengths around each path's thresholds: 192 and 3072 bound the clmul-merged
# three-chain tails, 256 and 512 start ymm and zmm folding, 736 (4 steps of
# 184), 1984 (8 of 248) and 3008 (8 of 376) the xmm, ymm and zmm hybrid
# passes, 768 and 12288 the table-merged 3-way blocks; 184*2048, 248*2048
# and 376*2048 are the largest single hybrid passes. The ymm pass runs two
# steps per loop iteration and one more when m - 1 is odd: 248*9 .. 248*11
# give both parities just above its smallest pass.
EDGE_LENGTHS = sorted({*range(0, 300), 511, 512, 513, 735, 736, 737, 767, 768, 769, 1023, 1024,
                       1983, 1984, 1985, 1984 + 248, 3071, 3072, 3073, 3743, 3744, 3745,
                       248 * 9 - 1, 248 * 9, 248 * 10, 248 * 10 + 7, 248 * 11, 248 * 11 + 247,
                       3007, 3008, 3009, 3 * 4096 - 1, 3 * 4096, 3 * 4096 + 8,
                       184 * 2048 - 1, 184 * 2048 + 7, 248 * 2048 - 1, 248 * 2048 + 249,
                       376 * 2048, 376 * 2048 + 377, (1 << 20) + 13})


@pytest.fixture(params=VARIANTS)
def variant(request):
    if not RUNNABLE[request.param]:
        pytest.skip(f"CPU lacks the instructions of crc32c variant {request.param}")
    with use_variant("crc32c", request.param):
        yield request.param


@pytest.mark.parametrize(("data", "want"), VECTORS)
def test_vectors(variant, data, want):
    assert crc32c(data, isolation="inproc") == want


def test_edge_lengths_match_peer(variant):
    blob = os.urandom(max(EDGE_LENGTHS) + 64)
    rnd = random.Random(5)
    for n in EDGE_LENGTHS:
        off = rnd.randrange(64)
        seed = rnd.getrandbits(32)
        data = memoryview(blob)[off:off + n]
        assert crc32c(data, seed, isolation="inproc") == peer.crc32c(data, seed), (n, off)


def test_seed_continuation(variant):
    rnd = random.Random(7)
    blob = os.urandom(200_000)
    for _ in range(40):
        cut = rnd.randrange(len(blob) + 1)
        whole = crc32c(blob, isolation="inproc")
        first = crc32c(blob[:cut], isolation="inproc")
        assert crc32c(blob[cut:], first, isolation="inproc") == whole


def test_kernel_request_path_agrees_with_direct_entry(variant):
    """crc32c(isolation='inproc') calls eh_crc32c directly; the request path must agree."""
    rnd = random.Random(9)
    for n in (0, 1, 63, 4096, 70_001):
        data, seed = os.urandom(n), rnd.getrandbits(32)
        res, _ = call("crc32c", 1, isolation="inproc", data=data, args=(seed,))
        assert res.value == kernels_lib().eh_crc32c(seed, data, n) == peer.crc32c(data, seed)
