"""Faults in KVM guests as a host meets them: a guest handle retired while
calls are in flight (what a reload does to the old version), a guest that
hangs while booting, and one that hangs in its clean-up after every call.
Each ends in a clear error or a replaced guest, the host process survives,
and nothing keeps running."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time

import pytest

from edgehost.errors import IsolationUnavailable
from edgehost.isolation import guest as vmm
from edgehost.native import ffi, lib
from tests.support import (
    EXIT_ON_VCPU_THREAD,
    GUEST_PATHS,
    PARK_WAIT_MS,
    REPO,
    SPIN,
    UD2,
    Resources,
    elf_patch,
    elf_symbols,
    record,
    request,
)

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


def _crc32c(data: bytes) -> int:
    from edgehost.kernels import crc32c

    return crc32c(data, isolation="inproc")


def _last_fault(g) -> str:
    buf, addr = ffi.new("char[]", 256), ffi.new("uint64_t *")
    lib.eh_vm_last_fault(g.handle, buf, 256, addr)
    return ffi.string(buf).decode()


@GUEST_PATHS
@pytest.mark.parametrize("how", ["hangs", "faults"])
def test_guest_that_hangs_in_its_clean_up_after_a_call(make_guest, spin_us, how, tmp_path):
    """The guest's own share of the reset after a call -- the runtime scrubs
    the stack the call wrote (eh_scrub_stack_touched) before it goes back to
    the doorbell -- never returns: the image's scrub is patched to spin
    ("hangs") or to raise an invalid opcode ("faults").

    The host's authoritative reset runs no guest code, so it cannot hang;
    what breaks is a guest the next call is posted to. On the exit path the
    caller runs (idle window 0) the guest never runs its clean-up at all:
    the host resets it before the next call, and a call finding its guest
    at the snapshot never takes it for one stuck since its previous call
    (CPU the host spent before the guest took a call -- faulting memory in,
    under load -- once had CI replace a healthy guest here). Elsewhere a hung guest either
    parks under the idle watchdog (forced_parks) or, when a call comes
    first, is found stuck (its vCPU burns CPU without taking the call:
    native_modules/vmm/vmm_internal.h, EH_TAKE_CPU_NS) and destroyed with a
    fault naming the call it did not take; a guest that faulted in its
    clean-up is destroyed when the next call finds it so. Either way that
    call runs on a fresh guest and returns the right answer -- none is lost
    to a timeout or a fault not its own -- a neighbour's guest is
    untouched, and no VM, thread or descriptor is left behind."""
    hang = elf_patch(vmm.TEST_IMAGE, tmp_path / f"{how}-in-clean-up.elf",
                     {"eh_scrub_stack_touched": SPIN if how == "hangs" else UD2})
    on_vcpu_thread = spin_us == EXIT_ON_VCPU_THREAD
    g = make_guest(image=hang, idle_spin_us=0 if on_vcpu_thread else spin_us, mem_mb=64,
                   cold_on_caller=not on_vcpu_thread, time_limit_ms=5000)
    neighbour = make_guest(mem_mb=64, idle_spin_us=100)
    rng = random.Random(16)
    g.boot()
    neighbour.boot()
    before = Resources.now()
    rounds = 40
    for i in range(rounds):
        data = rng.randbytes(rng.randrange(1, 4096))
        for guest in (g, neighbour):
            req, res, _keep = request(1, data)
            guest.offload(req, res)  # raises on a timeout or fault: none may reach a caller
            assert res.value == _crc32c(data), i
        time.sleep(rng.choice([0, 0, 0.001, 0.003, 0.02]))
    st, nst = g.stats(), neighbour.stats()
    assert st["calls"] == rounds and st["timeouts"] == 0
    # every broken guest was replaced: those found before a call took it
    # (stalled), and those that broke after finishing one (its result stood)
    # (the last may have broken after the last call: its successor boots on the next)
    assert st["creates"] - 1 in (st["faults"] - 1, st["faults"]), st
    assert st["stalled"] <= st["faults"]
    if spin_us == 0:  # the caller runs the guest: the host's reset replaces the clean-up,
        # so no guest breaks, and none is judged stuck either: each call finds
        # its guest at the snapshot (vmm_internal.h, EH_TAKE_CPU_NS)
        assert st["stalled"] == st["faults"] == 0, st
    elif how == "faults":
        assert st["faults"] >= 1 and "invalid opcode" in _last_fault(g)
    else:
        assert st["stalled"] + st["forced_parks"] >= 1
    assert nst["calls"] == rounds and nst["faults"] == nst["timeouts"] == nst["stalled"] == 0
    assert g.wait_parked(PARK_WAIT_MS)  # nothing spins on after the last call
    before.assert_flat(Resources.now(), rss_slack_kib=64 * 1024)
    record("fault", fault=f"guest {how} in its clean-up after every call ({rounds} calls, "
                          f"idle_spin_us={0 if on_vcpu_thread else spin_us}"
                          f"{', run by the vCPU thread' if on_vcpu_thread else ''})",
           outcome=f"{st['calls']} calls answered right, 0 timeouts; {st['faults']} broken "
                   f"guests replaced ({st['stalled']} before taking a call, which then ran on "
                   f"the fresh guest), {st['forced_parks']} parked by the "
                   f"watchdog; neighbour {nst['calls']} calls, 0 faults; VMs, threads, fds flat")
