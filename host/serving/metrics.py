"""The shared counters file and its Prometheus text rendering.

The master creates the file (one ``eh_srv_worker_stats`` slot per worker,
layout in native_modules/serving/metrics.h, read here through cffi); each
worker maps it and its C server counts into its slot without locks. A
scrape sums the slots per tenant name.
"""

from __future__ import annotations

import mmap
import os
import pathlib
import tempfile

from edgehost.native import ffi, lib

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNROUTED = "_unrouted"


class SharedStats:
    """An mmap of the counters file; ``create`` makes a new one (the master)."""

    def __init__(self, path: str | os.PathLike, *, create_workers: int = 0):
        self.path = pathlib.Path(path)
        size = ffi.sizeof("eh_srv_shm") + max(create_workers, 1) * ffi.sizeof(
            "eh_srv_worker_stats")
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create_workers else 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            if create_workers:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        self.shm = ffi.cast("eh_srv_shm *", ffi.from_buffer(self._map))
        if create_workers:
            self.shm.magic = lib.EH_SRV_SHM_MAGIC
            self.shm.nworkers = create_workers
        elif self.shm.magic != lib.EH_SRV_SHM_MAGIC:
            raise ValueError(f"{self.path}: not an edgehost counters file")

    @classmethod
    def create(cls, workers: int) -> SharedStats:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        fd, name = tempfile.mkstemp(prefix="edgehost-stats-", dir=base)
        os.close(fd)
        os.unlink(name)
        return cls(name, create_workers=workers)

    @property
    def nworkers(self) -> int:
        return int(self.shm.nworkers)

    def worker(self, i: int):
        """The ``eh_srv_worker_stats *`` of worker ``i``."""
        return ffi.addressof(self.shm.worker[i])

    def close(self, *, unlink: bool = False) -> None:
        self.shm = None
        try:
            self._map.close()
        except BufferError:  # a cffi view is still alive; the mapping goes with the process
            pass
        if unlink:
            self.path.unlink(missing_ok=True)


def _causes() -> list[str]:
    return [ffi.string(lib.eh_srv_cause_names[i]).decode() for i in range(lib.EH_CAUSE_COUNT)]


def _buckets() -> list[str]:
    out = []
    for i in range(lib.EH_SRV_BUCKETS):
        ns = lib.eh_srv_bucket_ns[i]
        out.append("+Inf" if ns >= 2**64 - 1 else f"{ns / 1e9:g}")
    return out


COUNTER_FIELDS = {  # field -> (metric, help)
    "hostcalls": ("edgehost_hostcalls_total",
                  "edgehost.* imports called by handlers (those that touch tenant memory)."),
    "offload_calls": ("edgehost_offload_calls_total", "Kernel calls made by handlers."),
    "slow_lane": ("edgehost_slow_lane_requests_total",
                  "Requests whose handler ran on a lower-priority lane: nice 10 (most of the "
                  "tenant's sampled calls used over 100 us of CPU, or their mean over 250 us) "
                  "or SCHED_IDLE (edgehost_idle_lane_requests_total)."),
    "idle_lane": ("edgehost_idle_lane_requests_total",
                  "Requests whose handler ran on the idle lane (SCHED_IDLE: CPU only where no "
                  "one else wants it): two calls over 1 ms of CPU within a second and a "
                  "mean over 250 us, or most of the tenant's calls failed."),
    "inline_requests": ("edgehost_inline_requests_total",
                        "Requests whose handler ran on the worker's event-loop thread, with no "
                        "hand-off (versions proven fast)."),
    "inline_preempted": ("edgehost_inline_preempted_total",
                         "Inline handler calls stopped at the 1 ms budget before any effect "
                         "and run again on a handler thread."),
    "guest_calls": ("edgehost_guest_calls_total", "Calls into the tenant's KVM guest."),
    "guest_creates": ("edgehost_guest_boots_total", "KVM guests booted for the tenant."),
    "guest_resets": ("edgehost_guest_resets_total", "Full resets of the tenant's KVM guest."),
    "guest_faults": ("edgehost_guest_faults_total", "Faults of the tenant's KVM guest."),
    "guest_timeouts": ("edgehost_guest_timeouts_total",
                       "Guest calls stopped at their time limit."),
}
GAUGE_FIELDS = {
    "pool_live": ("edgehost_instances", "Live instances (idle + busy)."),
    "pool_idle": ("edgehost_instances_idle", "Idle instances in the pools."),
    "memory_bytes": ("edgehost_instance_memory_bytes", "Linear memory of the live instances."),
    "inflight": ("edgehost_inflight_requests", "Requests routed and not yet answered."),
    "running": ("edgehost_running_handlers", "Handler calls running now."),
}

WORKER_FIELDS = {  # field of eh_srv_worker_stats (up, resident: from the process) -> metric
    "up": ("edgehost_worker_up", "gauge", "1 for each worker slot with a live process."),
    "connections": ("edgehost_worker_connections", "gauge",
                    "Open client connections per worker."),
    "resident": ("edgehost_worker_resident_bytes", "gauge",
                 "Resident memory of each worker process."),
    "reaped": ("edgehost_worker_reaped_total", "counter",
               "Connections closed because a request did not arrive in time."),
    "slots": ("edgehost_instance_slots", "gauge",
              "Instance slots of the worker's engines (wasmtime's pooling allocator)."),
    "slots_live": ("edgehost_instance_slots_used", "gauge", "Instances alive in those slots."),
    "slots_evicted": ("edgehost_instance_evictions_total", "counter",
                      "Idle instances freed to make room for another tenant's."),
    "slots_refused": ("edgehost_instance_refusals_total", "counter",
                      "Instances refused: a tenant at its share, or every slot in use."),
}


def collect(stats: SharedStats) -> dict[str, dict]:
    """Per tenant name, the counters of every worker summed."""
    causes = _causes()
    out: dict[str, dict] = {}
    for w in range(stats.nworkers):
        ws = stats.worker(w)
        for i in range(lib.EH_SRV_MAX_TENANTS):
            t = ws.tenant[i]
            name = ffi.string(t.name).decode(errors="replace")
            if not name:
                if i:
                    continue
                name = UNROUTED
            acc = out.setdefault(name, {"codes": {}, "errors": dict.fromkeys(causes, 0),
                                        "latency": [0] * lib.EH_SRV_BUCKETS, "latency_sum": 0,
                                        "requests": 0, "offload_ns": 0,
                                        **{f: 0 for f in COUNTER_FIELDS},
                                        **{f: 0 for f in GAUGE_FIELDS}})
            acc["requests"] += t.requests
            for k in range(lib.EH_SRV_CODES):
                n = t.code_count[k]
                if n:
                    code = str(t.code[k]) if k < lib.EH_SRV_CODES - 1 else "other"
                    acc["codes"][code] = acc["codes"].get(code, 0) + n
            for k, c in enumerate(causes):
                acc["errors"][c] += t.errors[k]
            for k in range(lib.EH_SRV_BUCKETS):
                acc["latency"][k] += t.latency[k]
            acc["latency_sum"] += t.latency_sum_ns
            acc["offload_ns"] += t.offload_ns
            for f in (*COUNTER_FIELDS, *GAUGE_FIELDS):
                acc[f] += getattr(t, f)
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def render(stats: SharedStats, workers_up: dict[int, int]) -> str:
    """Prometheus text format (version 0.0.4) of everything counted.
    ``workers_up``: worker index -> pid of its live process."""
    data = collect(stats)
    lines: list[str] = []

    def family(name: str, kind: str, help_: str) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")

    def lbl(tenant: str) -> str:
        return tenant.replace("\\", "\\\\").replace('"', '\\"')

    family("edgehost_requests_total", "counter", "Requests answered, by tenant and status code.")
    for t, d in data.items():
        for code, n in sorted(d["codes"].items()):
            lines.append(f'edgehost_requests_total{{tenant="{lbl(t)}",code="{code}"}} {n}')
    family("edgehost_errors_total", "counter",
           "Requests that did not get the tenant's own answer, by cause.")
    for t, d in data.items():
        for cause, n in d["errors"].items():
            if n or t != UNROUTED:
                lines.append(f'edgehost_errors_total{{tenant="{lbl(t)}",cause="{cause}"}} {n}')
    family("edgehost_request_duration_seconds", "histogram",
           "From the request's headers to its response sent.")
    les = _buckets()
    for t, d in data.items():
        cum = 0
        for le, n in zip(les, d["latency"], strict=True):
            cum += n
            lines.append(f'edgehost_request_duration_seconds_bucket{{tenant="{lbl(t)}",'
                         f'le="{le}"}} {cum}')
        lines.append(f'edgehost_request_duration_seconds_sum{{tenant="{lbl(t)}"}} '
                     f'{d["latency_sum"] / 1e9:.9f}')
        lines.append(f'edgehost_request_duration_seconds_count{{tenant="{lbl(t)}"}} {cum}')
    for field, (name, help_) in COUNTER_FIELDS.items():
        family(name, "counter", help_)
        for t, d in data.items():
            if t != UNROUTED:
                lines.append(f'{name}{{tenant="{lbl(t)}"}} {d[field]}')
    family("edgehost_offload_seconds_total", "counter",
           "Time in kernel calls (in the KVM guest for isolation kvm).")
    for t, d in data.items():
        if t != UNROUTED:
            lines.append(f'edgehost_offload_seconds_total{{tenant="{lbl(t)}"}} '
                         f'{d["offload_ns"] / 1e9:.9f}')
    for field, (name, help_) in GAUGE_FIELDS.items():
        family(name, "gauge", help_)
        for t, d in data.items():
            if t != UNROUTED:
                lines.append(f'{name}{{tenant="{lbl(t)}"}} {d[field]}')
    # Per worker; each family's samples follow its own HELP/TYPE lines.
    workers = []
    for w in range(stats.nworkers):
        ws, pid = stats.worker(w), workers_up.get(w)
        workers.append((w, {"up": 1 if pid else 0, "resident": _rss(pid) if pid else 0,
                            **{f: getattr(ws, f) for f in WORKER_FIELDS
                               if f not in ("up", "resident")}}))
    for field, (name, kind, help_) in WORKER_FIELDS.items():
        family(name, kind, help_)
        for w, values in workers:
            lines.append(f'{name}{{worker="{w}"}} {values[field]}')
    return "\n".join(lines) + "\n"
