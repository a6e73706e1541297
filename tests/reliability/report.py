"""Regenerate docs/reliability.md from an actual run of the adversarial,
fuzz and reliability suites:

    python -m tests.reliability.report                 # the default durations
    EDGEHOST_FUZZ_SECONDS=600 EDGEHOST_SOAK_SECONDS=600 python -m tests.reliability.report

It runs pytest on tests/security, tests/fuzz and tests/reliability with a
JUnit XML report and EDGEHOST_REPORT_DIR set (tests append what they tried to
events.jsonl there: tests/support.py's ``record``), then writes the tests run,
the inputs tried, fuzz executions, faults injected, the soak's figures and
every failure and known defect (strict xfail) -- nothing typed in by hand.
Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

REPO = pathlib.Path(__file__).resolve().parents[2]
SUITES = ["tests/security", "tests/fuzz", "tests/reliability"]
# Faults the serving and state suites inject themselves (run here too, where
# they exist, so that this page lists every fault the repository tests).
OTHER_FAULTS = ["tests/serving/test_workers.py", "tests/serving/test_abuse.py",
                "tests/state/test_full_store.py", "tests/state/test_crash.py",
                "tests/state/test_redis_failure.py"]


def _suites() -> list[str]:
    return SUITES + [f for f in OTHER_FAULTS if (REPO / f).is_file()]


def _cpu() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def _outcome(case: ET.Element) -> tuple[str, str]:
    for child in case:
        if child.tag in ("failure", "error"):
            msg = (child.get("message") or child.tag).strip().splitlines()
            return "failed", msg[0] if msg else child.tag
        if child.tag == "skipped":
            kind = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
            return kind, child.get("message") or ""
    return "passed", ""


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run(out: pathlib.Path, extra: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="eh-report-") as tmp:
        tmpd = pathlib.Path(tmp)
        junit = tmpd / "junit.xml"
        env = {**os.environ, "EDGEHOST_REPORT_DIR": str(tmpd)}
        load0, t0 = os.getloadavg(), time.monotonic()
        started = datetime.datetime.now(datetime.UTC)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={junit}", "-o", "junit_family=xunit1", *_suites(),
                               *extra], cwd=REPO, env=env)
        wall, load1 = time.monotonic() - t0, os.getloadavg()
        cases = ET.parse(junit).getroot().iter("testcase") if junit.exists() else []
        events_file = tmpd / "events.jsonl"
        events = [json.loads(line) for line in events_file.read_text().splitlines()] \
            if events_file.exists() else []
        out.write_text(render(list(cases), events, started, wall, load0, load1, proc.returncode))
    print(f"wrote {out} (pytest exit {proc.returncode})")
    return proc.returncode


def render(cases, events, started, wall, load0, load1, rc) -> str:
    from edgehost import isolation

    kvm_ok, kvm_reason = isolation.kvm_status()
    by_file: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    seconds: dict[str, float] = collections.defaultdict(float)
    known, failed, skipped, elsewhere = [], [], [], []
    for case in cases:
        file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        kind, msg = _outcome(case)
        by_file[file][kind] += 1
        seconds[file] += float(case.get("time") or 0)
        name = f"{file}::{case.get('name')}"
        if file in OTHER_FAULTS:
            elsewhere.append((name, kind))
        if kind == "failed":
            failed.append((name, msg))
        elif kind == "xfailed":
            known.append((name, msg))
        elif kind == "skipped":
            skipped.append((name, msg))
    totals = collections.Counter()
    for c in by_file.values():
        totals.update(c)
    # this page itself does not count as a change
    dirty = _git("status", "--porcelain", "--", ".", ":!docs/reliability.md")
    env_line = ", ".join(f"{k}={os.environ[k]}" for k in ("EDGEHOST_FUZZ_SECONDS",
                                                          "EDGEHOST_SOAK_SECONDS")
                         if k in os.environ) or "defaults"
    lines = [
        "# Reliability and security runs",
        "",
        "Generated by `python -m tests.reliability.report` from an actual run of "
        f"`{' '.join(_suites())}` -- do not edit by hand; run it again.",
        "",
        f"- Run: {started:%Y-%m-%d %H:%M UTC}, {wall:.0f} s wall, pytest exit status {rc}, "
        f"durations: {env_line}",
        f"- Commit: `{_git('rev-parse', '--short', 'HEAD')}` "
        f"({'with uncommitted changes' if dirty else 'clean tree'})",
        f"- Machine: {_cpu()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"load average {load0[0]:.1f} at start, {load1[0]:.1f} at end",
        f"- KVM: {'usable' if kvm_ok else 'NOT usable: ' + kvm_reason} "
        "(the tests/*/kvm parts are skipped where it is not)",
        "",
        "## Tests run",
        "",
        "| file | passed | failed | known defects (xfail) | skipped | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for file in sorted(by_file):
        c = by_file[file]
        lines.append(f"| `{file}` | {c['passed']} | {c['failed']} | {c['xfailed']} | "
                     f"{c['skipped']} | {seconds[file]:.1f} |")
    lines.append(f"| **total** | {totals['passed']} | {totals['failed']} | {totals['xfailed']} "
                 f"| {totals['skipped']} | {sum(seconds.values()):.1f} |")
    lines += ["", "Each parametrised case is one hostile input or scenario (an import with a "
              "bad range, an instruction, an artifact, a fault).", ""]

    inputs = [e for e in events if e["kind"] == "inputs"]
    diffs = [e for e in events if e["kind"] == "differential"]
    if inputs or diffs:
        lines += ["## Inputs tried in loops", "", "| what | inputs | outcome |", "|---|---:|---|"]
        for e in inputs:
            lines.append(f"| {_md_escape(e['what'])} | {e['count']} | {_md_escape(e['outcome'])} |")
        for e in diffs:
            lines.append(f"| differential: {_md_escape(e['target'])} | {e['inputs']} | "
                         f"{e['mismatches']} mismatches |")
        lines.append("")

    fuzz = [e for e in events if e["kind"] == "fuzz"]
    if fuzz:
        lines += ["## Fuzzing (libFuzzer, AddressSanitizer + UBSan)", "",
                  "| target | seconds | executions | coverage (edges) | features | corpus | "
                  "regression inputs replayed | crashes |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for e in fuzz:
            lines.append(f"| {e['target']} | {e['seconds']} | {e['execs']} | {e['coverage']} | "
                         f"{e['features']} | {e['corpus']} | {e['regressions']} | "
                         f"{', '.join(e['crashes']) or 'none'} |")
        lines.append("")

    faults = [e for e in events if e["kind"] == "fault"]
    if faults:
        lines += ["## Faults injected", "", "| fault | outcome |", "|---|---|"]
        for e in faults:
            lines.append(f"| {_md_escape(e['fault'])} | {_md_escape(e['outcome'])} |")
        lines.append("")

    if elsewhere:
        lines += ["Faults the serving and state suites inject (their own assertions):", "",
                  "| test | outcome |", "|---|---|"]
        lines += [f"| `{n}` | {k} |" for n, k in elsewhere]
        lines.append("")

    soaks = [e for e in events if e["kind"] == "soak"]
    for e in soaks:
        lines += [f"## Soak: {e.get('driver', '')}", "",
                  f"{e['seconds']} s (measured after a {e['warmup']:.0f} s warm-up), "
                  f"KVM tenant {'included' if e['kvm'] else 'absent (no KVM)'}.", "",
                  "| figure | value |", "|---|---|",
                  f"| well-behaved calls | {e['well_behaved_calls']} |",
                  f"| well-behaved errors | {e['errors']} |"]
        if "abusive_calls" in e:
            lines.append(f"| abusive calls (traps, deadlines, bombs, floods) | "
                         f"{e['abusive_calls']} |")
        lines += [f"| reload rounds | {e['reloads']} |",
                  f"| RSS KiB, start -> end | {e['rss_kib'][0]} -> {e['rss_kib'][1]} |",
                  f"| descriptors | {e['fds'][0]} -> {e['fds'][1]} |",
                  f"| threads | {e['threads'][0]} -> {e['threads'][1]} |",
                  f"| KVM VMs | {e['kvm_vms'][0]} -> {e['kvm_vms'][1]} |", ""]

    lines += ["## Failures", ""]
    lines += [f"- `{n}`: {_md_escape(m)}" for n, m in failed] or ["None."]
    lines += ["", "## Known defects (strict xfail: each fails the suite once fixed, "
              "until its marker is removed)", ""]
    lines += [f"- `{n}`: {_md_escape(m)}" for n, m in known] or ["None."]
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- `{n}`: {_md_escape(m)}" for n, m in skipped]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=pathlib.Path, default=REPO / "docs" / "reliability.md")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return run(args.out, args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
