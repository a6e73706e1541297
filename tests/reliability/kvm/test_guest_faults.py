"""Faults in KVM guests as a host meets them: a guest handle retired while
calls are in flight (what a reload does to the old version), and a guest
that hangs while booting or after its calls. Each ends in a clear error, the
host process survives, and nothing keeps running."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from edgehost.errors import IsolationUnavailable
from edgehost.isolation import guest as vmm
from tests.support import REPO, Resources, elf_symbols, record, request

pytestmark = pytest.mark.kvm


RETIRE_WHILE_CALLING = textwrap.dedent("""
    import random, threading, time
    from edgehost.isolation import guest as vmm
    from edgehost.errors import EdgehostError
    from tests.support import request

    rng = random.Random(1)
    for trial in range(60):
        g = vmm.Guest(mem_mb=64, idle_spin_us=100)
        req, res, keep = request(1, b"x" * 70000)
        g.offload(req, res)
        stop = False

        def caller():
            while not stop:
                try:
                    g.offload(req, res)
                except EdgehostError:
                    return  # a clear error once the handle is gone: fine

        threads = [threading.Thread(target=caller) for _ in range(3)]
        for th in threads:
            th.start()
        time.sleep(rng.uniform(0.001, 0.01))
        g.close()  # a reload retiring the old version's guest
        stop = True
        for th in threads:
            th.join()
    print("ok")
""")



def test_guest_retired_while_calls_are_in_flight(tmp_path):
    try:
        proc = subprocess.run([sys.executable, "-c", RETIRE_WHILE_CALLING], cwd=REPO,
                              capture_output=True, text=True, timeout=20)
        outcome = "ok" if proc.returncode == 0 else \
            f"process died (rc {proc.returncode}): {proc.stderr.strip()[-100:]}"
    except subprocess.TimeoutExpired:
        outcome = "process hung (a close waiting on a call that never ends)"
    record("fault", fault="guest handle closed while 3 threads call it (x60)", outcome=outcome)
    assert outcome == "ok", outcome


def test_guest_that_hangs_while_booting_is_bounded_and_retried(make_guest, tmp_path):
    """A guest image whose start never reaches the runtime's init (its entry
    spins): each call is refused after the boot limit, with the reason, and
    nothing keeps running between the attempts."""
    img = bytearray(vmm.TEST_IMAGE.read_bytes())
    img[24:32] = elf_symbols(vmm.TEST_IMAGE)["eh_hostile_spin_no_pause"].to_bytes(8, "little")
    bad = tmp_path / "hang.elf"
    bad.write_bytes(bytes(img))
    with vmm.Guest(mem_mb=64) as warm:  # process-wide KVM state opens once, first
        warm.boot()
    before = Resources.now()
    g = make_guest(image=bad, idle_spin_us=0, mem_mb=64, time_limit_ms=50)
    for _ in range(2):
        req, res, _keep = request(1, b"123456789")
        t0 = time.monotonic()
        with pytest.raises(IsolationUnavailable, match="did not initialise") as ei:
            g.offload(req, res)
        record("fault", fault="guest image that never finishes booting",
               outcome=f"{str(ei.value)} after {time.monotonic() - t0:.1f} s")
    g.close()
    time.sleep(0.05)
    before.assert_flat(Resources.now(), rss_slack_kib=64 * 1024)
