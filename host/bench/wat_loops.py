"""WAT text for the in-module call loops of ``bench hostcall`` and ``bench kv``.

A host-call figure is (a call of an export that runs a step n times - the
same call of ``loop_empty``) / n, so neither Python nor the entry into WASM
is in it. Every loop export therefore has the same signature and the same
loop skeleton as ``loop_empty``; only the step differs. The export's first
parameter ``$p`` is free for the step, its second ``$n`` is the count.
"""

from __future__ import annotations

_LOOP = """  (func (export "{export}") (param $p i32) (param $n i32) (result i32)
    (local $i i32){locals}
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
{step}      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    {result})
"""

_COUNT_FAILURE = "(then (local.set $bad (i32.add (local.get $bad) (i32.const 1))))"


def wat_loop(export: str, step: str = "", failed_if: str | None = None) -> str:
    """A ``(func (export ...))`` running the WAT instructions ``step`` n times.

    With ``failed_if`` (an i32 expression evaluated after ``step`` on every
    iteration), the export returns how many iterations it was non-zero, so a
    benchmark can check that every call did what it measures; otherwise it
    returns 0. ``wat_loop("loop_empty")`` is the baseline the others subtract.
    """
    lines = [step] if step else []
    if failed_if is not None:
        lines.append(f"(if {failed_if}\n        {_COUNT_FAILURE})")
    return _LOOP.format(
        export=export,
        locals=" (local $bad i32)" if failed_if is not None else "",
        step="".join(f"      {line}\n" for line in lines),
        result="(local.get $bad)" if failed_if is not None else "(i32.const 0)")
