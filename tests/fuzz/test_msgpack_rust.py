"""The Rust SDK's msgpack decoder, differentially against the msgpack package.

Why not libFuzzer: cargo-fuzz (libfuzzer-sys) is a crates.io dependency and
this build has no crates.io, only Debian's rustc for wasm32. Instead the SDK
runs where tenants run it -- compiled to wasm32 in a probe tenant
(tests/fuzz/tenants/msgpack-rust), so an out-of-bounds access or a panic
would be a trap -- and two input sources drive it:

* hypothesis: valid encodings of random values (every type, nested),
  arbitrary bytes, and valid encodings truncated or with a byte changed;
* the corpus the C SDK's libFuzzer target built (coverage-guided, of the same
  format: tests/fuzz/test_fuzz_targets.py), replayed here as is.

Each answer (``ok CONSUMED HEX`` of the canonical re-encoding, or ``error``)
must equal the reference's (tests/support.py: msgpack_reference). Longer:
EDGEHOST_FUZZ_SECONDS scales the number of hypothesis examples.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgehost.runtime.tenant import load
from tests.support import FUZZ_SECONDS, msgpack_reference, record

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = max(200, FUZZ_SECONDS * 70)


@pytest.fixture(scope="module")
def rust_msgpack(tmp_path_factory, rust_toolchain):
    from edgehost.toolchain import build

    d = tmp_path_factory.mktemp("msgpack-rust") / "msgpack-rust"
    shutil.copytree(HERE / "tenants" / "msgpack-rust", d)
    build.build(d)
    return load(d)


def rust_answer(t, data: bytes) -> str:
    return t.call("canon", data).body.decode()


def reference(data: bytes) -> str:
    return msgpack_reference(data, utf8_strict=True, int64_only=False)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=40) | st.binary(max_size=100),
    lambda kids: st.lists(kids, max_size=6) | st.dictionaries(st.text(max_size=8), kids,
                                                             max_size=6),
    max_leaves=12)
encodings = values.map(lambda v: msgpack.packb(v, use_bin_type=True))


@st.composite
def damaged(draw):
    data = bytearray(draw(encodings))
    if draw(st.booleans()) and len(data) > 1:
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    i = draw(st.integers(0, len(data) - 1))
    data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.one_of(encodings, st.binary(max_size=300), damaged()))
def test_rust_sdk_decodes_like_the_msgpack_package(rust_msgpack, data):
    assert rust_answer(rust_msgpack, data) == reference(data), data.hex()


def test_rust_sdk_on_the_c_fuzzers_corpus(rust_msgpack):
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    dirs = [HERE / "corpus" / "msgpack", cache / "edgehost" / "fuzz-corpus" / "msgpack"]
    files = sorted(p for d in dirs if d.is_dir() for p in d.iterdir() if p.is_file())
    if not files:
        pytest.skip("no msgpack corpus yet: run tests/fuzz/test_fuzz_targets.py first")
    mismatches = []
    for path in files:
        data = path.read_bytes()
        if rust_answer(rust_msgpack, data) != reference(data):
            mismatches.append(path.name)
    record("differential", target="msgpack Rust SDK vs msgpack package (C fuzzer corpus)",
           inputs=len(files), mismatches=len(mismatches))
    assert not mismatches, mismatches[:10]
