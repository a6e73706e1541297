"""Run a tenant version's golden requests (``[[check]]``) before it takes
traffic: every check must answer with its expected status and body (or
CRC32C) within its deadline; the first wrong answer rejects the version."""

from __future__ import annotations

import dataclasses
import time

from edgehost.errors import EdgehostError
from edgehost.wasm_config.checks import Check

HTTP_STATUS_OF_TENANT_FAILURE = 500   # what serving answers when a handler returns non-zero


@dataclasses.dataclass
class CheckResult:
    """One check's outcome, as ``edgehost status`` shows it."""

    name: str
    ok: bool
    ms: float
    reason: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class CheckFailed(EdgehostError):
    """A golden request got a wrong answer (or none in time)."""

    def __init__(self, result: CheckResult):
        self.result = result
        super().__init__(f"check {result.name!r} failed: {result.reason}")


def _crc32c(data: bytes) -> int:
    from edgehost.kernels.crc32c import crc32c

    return crc32c(data, isolation="inproc")


def _show(data: bytes, limit: int = 60) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(data) > limit else "")


def run_one(tenant, check: Check) -> CheckResult:
    """Send ``check`` to ``tenant`` (a loaded :class:`~edgehost.runtime.tenant.Tenant`)."""
    t0 = time.perf_counter()
    try:
        resp = tenant.call(check.export, check.body, method=check.method, path=check.route,
                           query=check.query, headers=dict(check.headers), check=False)
    except EdgehostError as exc:
        ms = (time.perf_counter() - t0) * 1e3
        return CheckResult(check.name, False, ms, f"no answer: {exc}")
    ms = (time.perf_counter() - t0) * 1e3
    status = resp.http_status if resp.status == 0 else HTTP_STATUS_OF_TENANT_FAILURE
    if ms > check.deadline_ms:
        return CheckResult(check.name, False, ms,
                           f"answered in {ms:.1f} ms, over its deadline_ms={check.deadline_ms}")
    if status != check.expect_status:
        why = f" (handler returned {resp.status})" if resp.status else ""
        return CheckResult(check.name, False, ms,
                           f"status {status}{why}, expected {check.expect_status}")
    if check.expect_body is not None and resp.body != check.expect_body:
        return CheckResult(check.name, False, ms, f"body {_show(resp.body)}, expected "
                                                  f"{_show(check.expect_body)}")
    if check.expect_crc32c is not None:
        got = _crc32c(resp.body)
        if got != check.expect_crc32c:
            return CheckResult(check.name, False, ms, f"body CRC32C {got:08x}, expected "
                                                      f"{check.expect_crc32c:08x}")
    return CheckResult(check.name, True, ms)


def run_all(tenant, checks: list[Check]) -> list[CheckResult]:
    """Every check in order; raises :class:`CheckFailed` at the first failure."""
    results = []
    for c in checks:
        r = run_one(tenant, c)
        results.append(r)
        if not r.ok:
            raise CheckFailed(r)
    return results
