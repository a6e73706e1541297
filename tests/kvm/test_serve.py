"""edgehost serve with KVM isolation: a tenant's kernels in its guest behind
HTTP; a kernel past its guest's time limit is a 504 and contained (the
"overrun" test tenant's kernel call cannot end inside its limit on any
machine: tests/serving/tenants/overrun)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import Load, Server, build_tenants, get, hammer, metric

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from edgehost.toolchain import compilers

    if not compilers.find_c().ok:
        pytest.skip("C->wasm32 toolchain missing; run `edgehost setup`")
    tenants = build_tenants(tmp_path_factory.mktemp("serve-kvm"), ["overrun"],
                            ["hello-c", "etag-c"])
    with Server(tenants) as s:
        yield s


def test_offload_through_http_runs_in_the_guest(server):
    status, hdrs, body = get(server.port, "/etag-c/etag", method="POST", body=b"hello")
    assert (status, body, hdrs["etag"]) == (200, b"9a71bb4c", '"9a71bb4c"')
    time.sleep(1.2)  # guest counters are published every second
    text = server.metrics()
    assert metric(text, "edgehost_guest_calls_total", tenant="etag-c") >= 1
    assert metric(text, "edgehost_offload_calls_total", tenant="etag-c") >= 1
    assert metric(text, "edgehost_offload_seconds_total", tenant="etag-c") > 0


def test_kernel_past_its_guest_limit_is_a_504(server):
    got, hdrs, body = get(server.port, "/overrun/slowkernel")
    assert got == 504 and b"time limit" in body and hdrs["x-request-id"]
    assert get(server.port, "/etag-c/etag", method="POST", body=b"hello")[2] == b"9a71bb4c"


def test_well_behaved_tenant_keeps_answering_while_a_guest_overruns(server):
    stop = threading.Event()
    threads = hammer(server.port, "/overrun/slowkernel", stop, clients=4)
    try:
        time.sleep(0.2)
        with Load(server.port, "/hello-c/hello", clients=4) as load:
            time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert load.failures() == [] and len(load.results) > 20
    print(f"\nkernel past its guest limit: hello-c {len(load.results)} requests, 100% ok, "
          f"p99 {load.p99_ms():.2f} ms")
