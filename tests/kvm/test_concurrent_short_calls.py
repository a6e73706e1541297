"""Many threads of short kernel calls into one tenant's guest under a tight
deadline: none may end as a spurious timeout (issue 16, finding 4: 8 threads
x 10,000 calls of ``crc32c`` over 0 bytes with ``deadline_ms = 20`` saw 2 of
80,000 calls fail with "call exceeded its 20 ms limit").

A spurious timeout is one the call did not earn: the guest's CPU-time limit
(a runaway guard) or its no-CPU guard stopping a call of no work, or a
deadline reported for a request that had not run for ``deadline_ms`` of wall
time. A request that really is still waiting when its 20 ms of wall time are
up (8 threads on a 2-core machine shared with others can be descheduled that
long) ends as a deadline, correctly; those are counted, not failed."""

from __future__ import annotations

import threading
import time

import pytest

from edgehost.errors import EdgehostError
from tests.support import hostapi_tenant

pytestmark = pytest.mark.kvm

THREADS = 8
# Calls per thread: enough to queue behind each other (~5 s here, Zen 3 with
# 2 shared cores), far fewer than the 10,000.
CALLS = 4000
DEADLINE_MS = 20
CRC32C_OF_NOTHING = b"\0\0\0\0"
# What the guest's own guards say when they stop a call (vmm/call.c).
GUEST_GUARDS = ("exceeded its", "got no CPU")


def test_concurrent_empty_crc32c_calls_never_time_out_spuriously(tmp_path):
    t = hostapi_tenant(tmp_path, name="short-calls", isolation="kvm",
                       limits={"deadline_ms": DEADLINE_MS})
    spurious: list[str] = []
    earned: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker():
        start.wait()
        for _ in range(CALLS):
            t0 = time.monotonic()
            try:
                body = t.call("crc", b"").body
            except EdgehostError as exc:
                ms = (time.monotonic() - t0) * 1000
                # Measured around the whole call, so a deadline that really
                # passed always shows >= DEADLINE_MS here.
                ok = (getattr(exc, "kind", None) == "deadline" and ms >= DEADLINE_MS
                      and not any(g in str(exc) for g in GUEST_GUARDS))
                with lock:
                    (earned.append(ms) if ok else spurious.append(f"{exc} after {ms:.1f} ms"))
                continue
            if body != CRC32C_OF_NOTHING:
                with lock:
                    spurious.append(f"wrong crc32c of nothing: {body.hex()}")

    try:
        assert t.guest is not None  # the tenant has its own guest: kvm, no fallback
        calls0 = t.guest.stats()["calls"]
        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        st = t.guest.stats()
        assert spurious == [], f"{len(spurious)} of {THREADS * CALLS}: {spurious[:5]}"
        # Most calls are served (a starved machine costs a few deadlines here:
        # 0-19 of 32,000 at load 3 (Zen 3, 2 cores); half is a bound no load reaches), and every
        # call that did not miss its deadline ran in the guest, not in process.
        assert len(earned) < THREADS * CALLS // 2, earned[:20]
        assert st["calls"] - calls0 >= THREADS * CALLS - len(earned), st
        print(f"\n{THREADS}x{CALLS} empty crc32c calls, deadline {DEADLINE_MS} ms: "
              f"{len(earned)} ran past their deadline (machine starved), 0 spurious")
    finally:
        t.close()
