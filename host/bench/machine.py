"""The machine a benchmark ran on, recorded next to every result of
``edgehost bench all``: CPU model and family, the ISA features the kernels
use (as the CPU reports them and as the kernels' dispatcher sees them), the
kernel version, and whether ``/dev/kvm`` is nested (and through what).

Everything is read from the running system (``/proc/cpuinfo``, ``/sys``,
``platform``); nothing is typed in. :func:`kind` names the machine kind the
committed figures are filed under (``docs/bench/<kind>/``).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import pathlib
import platform
import re
import subprocess

# /proc/cpuinfo flags the kernels (or their peers) can use, in the order shown.
ISA_FLAGS = ("sse4_2", "pclmulqdq", "popcnt", "avx", "avx2", "bmi2", "fma", "sha_ni", "aes",
             "vaes", "vpclmulqdq", "avx512f", "avx512bw", "avx512vl", "avx512dq",
             "avx512_vbmi", "avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "gfni")


def _cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo as a dict ({} where absent)."""
    try:
        text = pathlib.Path(path).read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, val = line.partition(":")
        if sep:
            out[key.strip()] = val.strip()
    return out


def _dispatcher_features() -> list[str] | None:
    """The features the kernels' dispatcher detects (CPUID + OS-enabled
    register state): what the kernels will actually use. None if the native
    module cannot be loaded."""
    try:
        from edgehost.doctor import cpu_features
        return cpu_features()
    except Exception:  # the record is best effort; a missing module is shown as None
        return None


def kvm_record() -> dict:
    """Is /dev/kvm usable, is it nested (we run under a hypervisor), and through what."""
    info = _cpuinfo()
    under_hypervisor = "hypervisor" in info.get("flags", "").split()
    rec: dict = {"device": os.path.exists("/dev/kvm"), "under_hypervisor": under_hypervisor}
    try:
        from edgehost import isolation
        ok, reason = isolation.kvm_status()
        rec["usable"], rec["detail"] = ok, reason
    except Exception as exc:  # native module missing: say so, do not crash the record
        rec["usable"], rec["detail"] = False, str(exc)
    via = None
    mods = pathlib.Path("/sys/module")
    if (mods / "kvm_pvm").exists():
        via = "pvm"  # PVM: guest ring 0 emulated, ring 3 native
    else:
        for mod, name in (("kvm_intel", "vmx"), ("kvm_amd", "svm")):
            p = mods / mod / "parameters" / "nested"
            if p.exists():
                via = name
                break
    rec["module"] = via
    rec["nested"] = bool(rec["device"] and under_hypervisor)
    return rec


def _git_commit() -> str | None:
    """The source tree's commit when running from a checkout (None from a wheel)."""
    here = pathlib.Path(__file__).resolve().parent.parent.parent
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def record() -> dict:
    """Everything known about this machine that a figure depends on."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    rec = {
        "cpu_model": info.get("model name") or platform.processor() or "unknown",
        "vendor": info.get("vendor_id"),
        "family": _int(info.get("cpu family")),
        "model": _int(info.get("model")),
        "stepping": _int(info.get("stepping")),
        "microcode": info.get("microcode"),
        "cpu_mhz": _float(info.get("cpu MHz")),
        "cache": info.get("cache size"),
        "features": [f for f in ISA_FLAGS if f in flags],
        "kernel_features": _dispatcher_features(),
        "cpus": os.cpu_count(),
        "affinity": affinity,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "edgehost": _version("edgehost"),
        "wasmtime": _version("wasmtime"),
        "commit": _git_commit(),
        "kvm": kvm_record(),
        "loadavg": _loadavg(),
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    rec["kind"] = kind(rec)
    return rec


def kind(rec: dict) -> str:
    """A short name for the machine kind: vendor, family/model and the widest
    vector ISA, e.g. ``amd-f25m1-avx2`` or ``intel-f6m143-avx512``."""
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(rec.get("vendor") or "",
                                                                   (rec.get("vendor") or "cpu"))
    feats = set(rec.get("features") or ())
    isa = "avx512" if "avx512f" in feats else "avx2" if "avx2" in feats else \
        "sse42" if "sse4_2" in feats else "base"
    name = f"{vendor}-f{rec.get('family')}m{rec.get('model')}-{isa}"
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower())


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) clock ticks of all CPUs so far (/proc/stat): the time
    the hypervisor ran something else on this VM's CPUs, against all of it.
    None where the kernel does not say."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]   # user..steal; guest time is inside user
    return ticks[7], sum(ticks)


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of CPU time stolen between two :func:`cpu_ticks` readings."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _os_name() -> str:
    try:
        for line in pathlib.Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _int(s: str | None) -> int | None:
    try:
        return int(s) if s is not None else None
    except ValueError:
        return None


def _float(s: str | None) -> float | None:
    try:
        return float(s) if s is not None else None
    except ValueError:
        return None


def summary(rec: dict) -> str:
    """One line naming the machine, for table titles and chart footers."""
    kvm = rec.get("kvm") or {}
    nested = f"KVM nested ({kvm.get('module')})" if kvm.get("nested") else \
        ("KVM" if kvm.get("usable") else "no KVM")
    feats = [f for f in ("avx2", "vaes", "vpclmulqdq", "avx512f") if f in (rec.get("features")
                                                                           or ())]
    return (f"{rec.get('cpu_model')} (family {rec.get('family')} model {rec.get('model')}; "
            f"{' '.join(feats) or 'no AVX2'}), {rec.get('cpus')} CPUs, Linux "
            f"{rec.get('kernel')}, {nested}")


@contextlib.contextmanager
def pinned_thread(*, enabled: bool = True):
    """Pin the calling thread to one CPU -- the one it is running on, which
    the scheduler chose as the least busy -- for the block, restoring its
    affinity afterwards. A no-op where affinity is not supported, only one
    CPU is allowed, or ``enabled`` is false (a block that creates KVM guests
    must not pin: their vCPU threads inherit the mask and must be free to run
    on another core)."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        allowed = set()
    if not enabled or len(allowed) < 2:
        yield None
        return
    cpu = current_cpu()
    if cpu not in allowed:
        cpu = max(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, allowed)


def current_cpu() -> int | None:
    """The CPU the calling thread last ran on (/proc/thread-self/stat field 39)."""
    try:
        stat = pathlib.Path("/proc/thread-self/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None
