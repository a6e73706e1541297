"""The C SDK's msgpack reader/writer round-trips what Python's msgpack writes."""


import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgehost.errors import TenantError
from tests.support import REPO, built_tenant

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False), st.text(max_size=300), st.binary(max_size=300),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=20),
    st.dictionaries(st.text(max_size=10), inner, max_size=20)), max_leaves=60)


@pytest.fixture(scope="module")
def echo(tmp_path_factory, c_toolchain):
    with built_tenant(REPO / "tests/integration/tenants", tmp_path_factory.mktemp("mp")) as t:
        yield t


@settings(max_examples=150, deadline=None)
@given(value=values)
def test_roundtrip(echo, value):
    packed = msgpack.packb(value, use_bin_type=True)
    out = echo.call("echo", packed).body
    assert msgpack.unpackb(out, raw=False, strict_map_key=False) == value


@pytest.mark.parametrize("bad", [b"", b"\xc1", b"\x92\x01", b"\xda\x00\x10abc", b"\x01\x02"])
def test_malformed_is_rejected(echo, bad):
    with pytest.raises(TenantError):
        echo.call("echo", bad)
