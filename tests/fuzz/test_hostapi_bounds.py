"""Fuzzed (ptr, len) pairs: in-range calls succeed, everything else traps with
a clear message, and the host never reads outside the tenant's memory."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgehost.errors import TenantTrap
from tests.support import hostapi_tenant as make
from tests.support import i32, ints

MEM = 2 * 65536  # the WAT tenants' memory: 2 pages, never grown here

edges = st.sampled_from([0, 1, MEM - 1, MEM, MEM + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF])
u32 = st.one_of(edges, st.integers(0, 0xFFFFFFFF), st.integers(0, MEM))


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    return make(tmp_path_factory.mktemp("fuzz"), name="fuzz-bounds")


def signed(v):
    return v - (1 << 32) if v >= 1 << 31 else v


@settings(max_examples=300, deadline=None)
@given(ptr=u32, length=u32)
def test_crc32c_ptr_len(tenant, ptr, length):
    arg = ints(signed(ptr), signed(length))
    if ptr + length <= MEM:
        assert tenant.call("crc_at", arg).status == 0
    else:
        with pytest.raises(TenantTrap, match="outside linear memory"):
            tenant.call("crc_at", arg)


@settings(max_examples=200, deadline=None)
@given(klen=u32, vlen=u32)
def test_kv_put_lengths(tenant, klen, vlen):
    # key at input+12 (4096+12), value right after it
    key_ptr = 4096 + 12
    arg = ints(1, signed(klen), signed(vlen))
    in_range = key_ptr + klen <= MEM and key_ptr + klen + vlen <= MEM
    if in_range:
        rc = i32(tenant.call("kv", arg).body)
        assert rc in (0, -2, -3)
    else:
        with pytest.raises(TenantTrap, match="outside linear memory"):
            tenant.call("kv", arg)
