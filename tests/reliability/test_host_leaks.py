"""Many calls, traps and instantiations: no growth in fds or memory, and the
host keeps serving."""

import os
import resource

import pytest

from edgehost.errors import TenantTrap
from tests.support import hostapi_tenant as make
from tests.support import ints


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("policy", ["reuse", "fresh"])
def test_no_growth_over_many_calls(tmp_path, policy):
    t = make(tmp_path, name=f"leak-{policy}", instance=policy, kernels=["crc32c"])
    data = bytes(range(256)) * 4

    def burst(n):
        for i in range(n):
            t.call("crc", data)
            if i % 50 == 0:
                with pytest.raises(TenantTrap):
                    t.call("trap")

    burst(2000)  # warm up pools and allocator caches
    fd0, rss0 = fds(), rss_kib()
    burst(10_000)
    assert fds() <= fd0  # another test's handle may close meanwhile; never more
    assert rss_kib() - rss0 < 20 * 1024, "more than 20 MiB RSS growth over 10k calls"


def test_kv_churn_returns_memory_to_budget(tmp_path):
    t = make(tmp_path, name="kv-churn", limits={"kv_max_bytes": 64 << 10})
    for i in range(5000):
        key = f"k{i % 37}".encode()
        t.call("kv", ints(1, len(key), 100) + key + b"v" * 100)
        if i % 3 == 0:
            t.call("kv", ints(2, len(key), 0) + key)
    count, used = t.kv_stats()
    assert count <= 37 and used <= 37 * (3 + 100)
