"""bench.report: one readable terminal table per family, known or not."""

from __future__ import annotations

from edgehost.bench import report


def _crc_rows():
    rows = []
    for size, fast in ((64, 5.0), (65536, 25.0)):
        rows.append({"bench": "crc32c", "impl": "edgehost", "variant": "pclmul",
                     "isolation": "inproc", "size": size, "gbps": fast})
        rows.append({"bench": "crc32c", "impl": "crc32c (PyPI)", "variant": "hw",
                     "isolation": "inproc", "size": size, "gbps": fast / 2})
    rows.append({"bench": "crc32c", "impl": "edgehost", "variant": "avx512", "isolation": "inproc",
                 "size": 64, "gbps": None, "note": "CPU lacks it"})
    rows.append({"bench": "crc32c", "impl": "ratio vs PyPI", "size": 65536, "ratio": 2.0})
    return rows


def test_sized_family_is_a_pivot_with_the_rest_listed_after():
    text = report.family_table("crc32c", _crc_rows())
    lines = text.splitlines()
    assert lines[0] == "[GB/s]"
    header = lines[1].split()
    assert header[-4:] == ["64", "B", "64", "KiB"]
    pclmul = next(ln for ln in lines if "pclmul" in ln)
    assert pclmul.split()[-2:] == ["5", "25"]
    assert "avx512 / inproc: CPU lacks it" in text
    assert "ratio vs PyPI" in text  # the summary row follows the pivot


def test_unknown_family_gets_a_plain_table_of_filled_columns():
    rows = [{"bench": "serve", "impl": "hello-c", "rps": 41234.5, "p99_ms": 1.25, "empty": None},
            {"bench": "serve", "impl": "nginx", "rps": 45000.0, "p99_ms": 0.9,
             "note": "static 200"}]
    text = report.family_table("serve", rows)
    header = text.splitlines()[0].split()
    assert header == ["impl", "rps", "p99_ms", "note"]
    assert "41,234" in text and "static 200" in text


def test_render_marks_failed_families():
    results = {"families": {
        "csv": {"status": "failed", "seconds": 1.0, "rows": [],
                "error": "edgehost: error: something broke"},
        "hostcall": {"status": "ok", "seconds": 2.0,
                     "rows": [{"bench": "hostcall", "impl": "x", "op": "nop",
                               "ns_per_call": 3.5}]}}}
    text = report.render(results)
    assert "== csv (failed, 1.0 s)" in text and "something broke" in text
    assert "== hostcall (ok, 2.0 s)" in text and "3.5" in text


def test_human_bytes():
    assert [report.human_bytes(n) for n in (64, 4096, 1 << 20, 16 << 20, 1536)] == \
        ["64 B", "4 KiB", "1 MiB", "16 MiB", "1.5 KiB"]
