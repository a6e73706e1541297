"""Soak over HTTP: ``edgehost serve`` with two workers, well-behaved tenants
under load -- probe (in process), hello-c (kv, config, log) and etag-c
(CRC32C of a 64 KiB body offloaded to its KVM guest where KVM works) -- next
to the hostile abuse tenant looping, bombing memory, trapping and overrunning
its guest, plus bodies over the limit, and a reload (SIGHUP) every
RELOAD_EVERY seconds, for EDGEHOST_SOAK_SECONDS (default 60; 600 on demand):

    EDGEHOST_SOAK_SECONDS=600 python -m pytest tests/reliability/test_soak_http.py

Every well-behaved request must answer 200 (an ETag must be the body's
CRC32C). The server's processes -- resident memory, threads, descriptors,
KVM guests -- are measured with no request in flight after a warm-up and at
the end, and must stay within the stated slack; no worker may have died.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import crc32c
import pytest

from tests.support import Load, Server, build_tenants, get, hammer, record, settled_resources

pytestmark = pytest.mark.toolchain

SECONDS = int(os.environ.get("EDGEHOST_SOAK_SECONDS", "60"))
WARMUP = max(8.0, SECONDS * 0.15)
RELOAD_EVERY = 5.0
RSS_SLACK_KIB = 48 * 1024  # over master + workers
BODY = os.urandom(64 << 10)
ABUSE = ["/abuse/spin", "/abuse/bomb", "/abuse/trap", "/abuse/slowkernel", "/abuse/fail"]


@pytest.fixture(scope="module")
def soak_tenants(tmp_path_factory, c_toolchain):
    return build_tenants(tmp_path_factory.mktemp("soak-tenants"), ["probe", "abuse"],
                         ["hello-c", "etag-c"])


def _prime(s: Server) -> None:
    """Each worker serves each tenant at least once (a fresh connection per
    request lands on either worker), so every worker has its instances and
    guests before anything is measured."""
    for _ in range(16):
        for path in ("/probe/echo", "/hello-c/hello", "/abuse/fail"):
            get(s.port, path)
        get(s.port, "/etag-c/etag", method="POST", body=BODY)


def _phase(s: Server, seconds: float, results: dict) -> None:
    """Load, abuse and reloads for ``seconds``; then nothing in flight."""
    _prime(s)
    stop = threading.Event()
    loads = {"probe": Load(s.port, "/probe/echo", clients=2),
             "hello-c": Load(s.port, "/hello-c/hello", clients=1),
             "etag-c": Load(s.port, "/etag-c/etag", clients=1, body=BODY)}
    abusers = [t for path in ABUSE for t in hammer(s.port, path, stop, clients=1)]
    abusers += hammer(s.port, "/probe/echo", stop, body=b"x" * 100_000, clients=1)  # 413
    for load in loads.values():
        load.__enter__()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(min(RELOAD_EVERY, max(0.0, deadline - time.monotonic())))
            if time.monotonic() < deadline:
                s.signal(signal.SIGHUP)
                results["reloads"] += 1
    finally:
        stop.set()
        for load in loads.values():
            load.__exit__(None, None, None)
        for t in abusers:
            t.join(timeout=60)
    for name, load in loads.items():
        results["calls"][name] = results["calls"].get(name, 0) + len(load.results)
        results["failures"] += [(name, o) for o in load.failures()]
    time.sleep(1.0)  # connections close, handler threads go idle


def _kvm_tenants(root) -> int:
    """How many of the tenants under ``root`` run their kernels in a KVM guest."""
    from edgehost import isolation
    from edgehost.wasm_config import manifest

    return sum(isolation.resolve(manifest.load(d).isolation) == "kvm"
               for d in root.iterdir() if (d / "edgehost.toml").is_file())


def test_soak_over_http(soak_tenants, tmp_path):
    results = {"reloads": 0, "calls": {}, "failures": []}
    data = tmp_path / "data"  # the durable store (LMDB), shared by both workers
    with Server(soak_tenants, workers=2, threads=4,
                extra=["--kv", "lmdb", "--data", str(data)]) as s:
        workers = s.worker_pids()
        _phase(s, WARMUP, results)
        before = settled_resources(s)
        _phase(s, max(0.0, SECONDS - WARMUP), results)
        after = settled_resources(s)
        status, headers, _ = get(s.port, "/etag-c/etag", method="POST", body=BODY)
        etag_ok = status == 200 and f"{crc32c.crc32c(BODY):08x}" in headers.get("etag", "")
        workers_after = s.worker_pids()
        log = s.log()
    record("soak", seconds=SECONDS, warmup=WARMUP, kvm="kvm" in log or before.kvm_vms > 0,
           well_behaved_calls=sum(results["calls"].values()),
           reloads=results["reloads"], errors=len(results["failures"]),
           rss_kib=[before.rss_kib, after.rss_kib], fds=[before.fds, after.fds],
           threads=[before.threads, after.threads], kvm_vms=[before.kvm_vms, after.kvm_vms],
           driver="HTTP (edgehost serve, 2 workers)")
    assert results["failures"] == [], (f"{len(results['failures'])} of "
                                       f"{sum(results['calls'].values())} well-behaved requests "
                                       f"failed: {results['failures'][:10]}")
    assert all(n > 0 for n in results["calls"].values()) and results["reloads"] > 0, results
    assert etag_ok, (status, headers)
    assert workers_after == workers, "a worker died during the soak"
    # A guest that faulted or overran (the abusers make them) is destroyed and
    # booted again by the tenant's next kernel call: at "before" a worker may
    # be between the two. Each such guest is a VM, a vCPU, its thread, KVM's
    # own per-VM kernel thread and two descriptors; anything more is a leak.
    most = 2 * _kvm_tenants(soak_tenants)  # one guest per worker and KVM tenant
    rebooting = max(0, most - before.kvm_vms)
    steady = dataclasses.replace(before, kvm_vms=before.kvm_vms + rebooting,
                                 kvm_vcpus=before.kvm_vcpus + rebooting)
    steady.assert_flat(after, rss_slack_kib=RSS_SLACK_KIB, thread_slack=2 * rebooting,
                       fd_slack=2 * rebooting)
    assert after.kvm_vms <= most
    # The store the workers wrote all along opens cleanly and holds the count.
    visits = subprocess.run([sys.executable, "-m", "edgehost", "kv", "get", "hello-c", "visits",
                             "--kv", "lmdb", "--data", str(data)],
                            capture_output=True, timeout=120)
    assert visits.returncode == 0 and visits.stdout, visits.stderr
