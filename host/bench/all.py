"""``edgehost bench all``: every benchmark family in one run, with the
machine it ran on, as terminal tables, one JSON file and one chart per family.

Families are the other ``edgehost bench`` commands, found at run time (a new
one -- serve, kv, reload -- joins by existing). Each runs in a subprocess of
its own (``edgehost bench NAME --json``), so one family's crash or hang is
reported in its place and the others still run. ``--quick`` passes a family
its own ``--quick`` flag where it has one, else the small sizes listed in
QUICK below; options a family does not declare are never passed.

The JSON file (``--json FILE``) holds::

    {"schema": "edgehost-bench-all/1", "quick": bool, "seconds": float,
     "machine": {...},           # bench.machine.record(): CPU, features, kernel, KVM
     "pinning": "...",           # what was pinned to which CPUs
     "families": {NAME: {"status": "ok" | "failed" | "timeout" | "skipped",
                         "seconds": float, "args": [...], "rows": [...],
                         "error": str | None}},
     "claims": [...],            # bench.docs.claims(): the seed's claims vs this run
     "charts": {NAME: path}}     # with --plot

``--docs docs/benchmarks.md`` is the one command that regenerates the
committed figures: it writes ``docs/bench/<machine kind>/results.json`` and
the charts next to it, then rewrites the results section of the page from
every machine kind's stored results.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import click

from edgehost.bench import machine
from edgehost.errors import EdgehostError, InputError, ToolchainMissing

SCHEMA = "edgehost-bench-all/1"
NOT_FAMILIES = {"all"}
ORDER = ("stream", "crc32c", "csv", "json", "vector", "hostcall", "offload", "tenant", "serve",
         "kv", "reload")
# Options per family (used only where the family declares them).
FULL = {
    # 64 MiB: a memory-bound size next to the in-cache ones
    "crc32c": {"--sizes": "64,4096,65536,1048576,67108864"},
}
QUICK = {
    "crc32c": {"--sizes": "64,1048576", "--target-ms": "2"},
    "csv": {"--size": str(1 << 20), "--target-ms": "3"},
    "json": {"--inputs": "twitter", "--target-ms": "3"},
    "vector": {"--only": "dot,topk-dot", "--target-ms": "1"},
    "hostcall": {"--repeat": "3"},
    "offload": {"--calls": "2000"},
    "serve": {"--seconds": "1", "--rounds": "1", "--workers": "1"},
    # 10 and 100 ms: the 1000 ms case alone is 6 s of waiting
    "deadline": {"--deadlines": "10,100", "--runs": "3"},
}
TIMEOUT_S = {"quick": 120, "full": 600}  # guards against a hang, not a budget
PLACES_ITSELF = {"serve"}  # pins its server and load generator to CPUs of its choosing


def families() -> dict:
    """name -> click command of every bench family, in report order."""
    from edgehost import bench

    cmds = {c.name: c for c in bench.commands() if c.name not in NOT_FAMILIES}
    ordered = [n for n in ORDER if n in cmds] + sorted(n for n in cmds if n not in ORDER)
    return {n: cmds[n] for n in ordered}


def family_args(name: str, cmd, quick: bool) -> list[str]:
    """The options ``bench all`` passes ``name`` (never one it does not declare)."""
    declared = {o for p in cmd.params for o in getattr(p, "opts", ())}
    if quick and "--quick" in declared:
        return ["--quick"]
    args = []
    for opt, val in (QUICK if quick else FULL).get(name, {}).items():
        if opt in declared:
            args += [opt] if val is True else [opt, val]
    return args


def _child_cpus() -> set[int] | None:
    """CPUs for each family's process: the last two allowed where there are
    three or more (a family's KVM rows need the caller and the vCPU thread on
    two cores; CPU 0 takes most interrupts); None (no pinning) otherwise."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    if len(allowed) < 3:
        return None
    return set(allowed[-2:])


def run_family(name: str, args: list[str], timeout_s: float, cpus: set[int] | None) -> dict:
    """Run ``edgehost bench NAME --json ARGS`` in a subprocess; its result entry."""
    cmd = [sys.executable, "-m", "edgehost", "bench", name, "--json", *args]
    t0, ticks0 = time.perf_counter(), machine.cpu_ticks()

    def pin():  # runs in the child before exec
        if cpus:
            os.sched_setaffinity(0, cpus)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              preexec_fn=pin if cpus else None)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": time.perf_counter() - t0, "args": args,
                "rows": [], "error": f"stopped after {timeout_s:.0f} s (--timeout)"}
    secs = time.perf_counter() - t0
    rows, error = [], None
    try:
        rows = json.loads(proc.stdout) if proc.stdout.strip() else []
    except json.JSONDecodeError:
        error = "its output was not JSON"
    if not isinstance(rows, list):
        rows, error = [], "its output was not a list of rows"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        error = lines[-1] if lines else f"exit status {proc.returncode}"
    status = "ok" if proc.returncode == 0 and error is None else "failed"
    return {"status": status, "seconds": secs, "args": args, "rows": rows, "error": error,
            "steal": machine.steal_share(ticks0, machine.cpu_ticks())}


def run_all(names: list[str], quick: bool, timeout_s: float, progress: bool = True) -> dict:
    """Measure every family in ``names``; the result document (without claims/charts)."""
    fams = families()
    cpus = _child_cpus()
    results = {"schema": SCHEMA, "quick": quick, "machine": machine.record(),
               "pinning": (f"each family's process on CPUs {sorted(cpus)}" if cpus else
                           "families not pinned (fewer than 3 CPUs: a KVM family needs two)")
               + "; in-process runs of stream and tenant pinned to one core",
               "families": {}}
    t0 = time.perf_counter()
    tty = progress and sys.stdout.isatty()

    def one(name):
        cmd = fams[name]
        if "--json" not in {o for p in cmd.params for o in getattr(p, "opts", ())}:
            return {"status": "skipped", "seconds": 0.0, "args": [], "rows": [],
                    "error": "it has no --json option"}
        return run_family(name, family_args(name, cmd, quick), timeout_s,
                          None if name in PLACES_ITSELF else cpus)

    if tty:
        with click.progressbar(names, label="edgehost bench all", show_pos=True,
                               item_show_func=lambda n: n or "") as bar:
            for name in bar:
                results["families"][name] = one(name)
    else:
        for i, name in enumerate(names, 1):
            if progress:
                click.echo(f"[{i}/{len(names)}] {name} ...", err=True)
            fam = results["families"][name] = one(name)
            if progress:
                steal = "" if fam.get("steal") is None else f", steal {fam['steal'] * 100:.1f} %"
                click.echo(f"[{i}/{len(names)}] {name}: {fam['status']} in {fam['seconds']:.1f} s"
                           f" ({len(fam['rows'])} rows{steal})", err=True)
    results["seconds"] = time.perf_counter() - t0
    results["machine"]["loadavg_end"] = machine.record()["loadavg"]
    return results


def _select(only: str, skip: str) -> list[str]:
    fams = list(families())
    pick = [n for n in only.split(",") if n] or fams
    drop = {n for n in skip.split(",") if n}
    for n in list(pick) + list(drop):
        if n not in fams:
            raise InputError(f"unknown benchmark family {n!r} (families: {', '.join(fams)})")
    return [n for n in fams if n in pick and n not in drop]


@click.command("all")
@click.option("--json", "json_file", type=click.Path(dir_okay=False),
              help="Write the results, with the machine record, to FILE ('-': stdout).")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False),
              help="Write one PNG chart per family into DIR.")
@click.option("--quick", is_flag=True, help="Small sizes and short runs (under a minute).")
@click.option("--only", default="", help="Comma-separated families to run (default: all).")
@click.option("--skip", default="", help="Comma-separated families to leave out.")
@click.option("--timeout", "timeout_s", type=float, default=None,
              help="Seconds a family may run before it is stopped "
                   f"(default {TIMEOUT_S['quick']} quick, {TIMEOUT_S['full']} full).")
@click.option("--docs", "docs_file", type=click.Path(dir_okay=False),
              help="Regenerate a benchmarks page: results and charts go to "
                   "docs/bench/<machine kind>/ next to FILE (unless --json/--plot say "
                   "otherwise), then FILE's results section is rewritten from every kind's "
                   "results.")
@click.option("--render-only", is_flag=True,
              help="With --docs: measure nothing, re-render the page (and charts) from the "
                   "stored results.")
def command(json_file, plot_dir, quick, only, skip, timeout_s, docs_file, render_only):
    """Every benchmark family: tables, JSON with the machine record, one chart each."""
    from edgehost.bench import docs, plot, report, targets

    if render_only:
        if not docs_file:
            raise InputError("--render-only needs --docs FILE")
        if (msg := plot.available()) is not None:
            raise ToolchainMissing("matplotlib (charts)", msg.split(": ", 1)[1])
        written = docs.rerender(pathlib.Path(docs_file), charts=True)
        click.echo(f"rewrote {docs_file} from {len(written)} machine kind(s): "
                   f"{', '.join(written) or 'none found'}")
        return
    names = _select(only, skip)
    kind = machine.kind(machine.record())
    stored = None  # --docs: the results the page is rendered from, whatever --json says
    if docs_file:
        base = pathlib.Path(docs_file).resolve().parent / "bench" / kind
        stored = base / "results.json"
        json_file = json_file or str(stored)
        plot_dir = plot_dir or str(base)
    if plot_dir and (msg := plot.available()) is not None:
        raise ToolchainMissing("matplotlib (for --plot)", msg.split(": ", 1)[1])
    timeout = timeout_s or TIMEOUT_S["quick" if quick else "full"]
    results = run_all(names, quick, timeout)
    results["claims"] = docs.claims(results)
    if plot_dir:
        results["charts"] = {k: _relative(v, plot_dir)
                             for k, v in plot.plot_all(results, plot_dir).items()}
    if json_file == "-":
        click.echo(json.dumps(results, indent=1, default=str))
    else:
        click.echo(report.render(results))
        click.echo(docs.claims_text(results["claims"]))
        click.echo(targets.text(results))
        if json_file:
            path = pathlib.Path(json_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=1, default=str) + "\n")
            click.echo(f"results: {path}")
        if plot_dir:
            click.echo(f"charts:  {plot_dir}/<family>.png")
    if docs_file:
        if json_file != str(stored):
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_text(json.dumps(results, indent=1, default=str) + "\n")
        docs.rerender(pathlib.Path(docs_file), charts=False)
        click.echo(f"rewrote the results section of {docs_file}", err=json_file == "-")
    bad = [n for n, f in results["families"].items() if f["status"] not in ("ok", "skipped")]
    click.echo(f"bench all: {len(names) - len(bad)}/{len(names)} families ok in "
               f"{results['seconds']:.0f} s on {results['machine']['kind']}"
               + (f"; failed: {', '.join(bad)}" if bad else ""), err=json_file == "-")
    if bad:
        raise EdgehostError(f"benchmark families failed: {', '.join(bad)} "
                            "(their rows above say why)")


def _relative(path: str, base: str) -> str:
    """A chart's path relative to the plot directory (its own name) when it is
    a written file; the reason it is missing otherwise."""
    p = pathlib.Path(path)
    return p.name if p.suffix == ".png" and str(p).startswith(str(pathlib.Path(base))) else path
