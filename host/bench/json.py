"""``edgehost bench json``: JSON validation by variant and isolation next to
simdjson (pysimdjson's parse), orjson and the standard library, on generated
documents shaped like the usual corpus (no downloads here):

* ``twitter``  search results: nested user/entity objects, ids beyond 2^53,
  Japanese/emoji text raw and \\u-escaped, URLs with escaped slashes;
* ``citm``     an event catalog: indented, many small objects and int arrays;
* ``canada``   GeoJSON: one polygon of ~100k coordinates with 15-17 digits.

Every figure is a median of 5 timed runs within one process. ``edgehost``
rows time a C loop over one request (the kernel); ``api`` rows are per Python
call, as the peers are.
"""

from __future__ import annotations

import json as stdjson
import random
import time

import click

from edgehost.bench._kernelbench import NativeRequest, call_seconds, kvm_variant_rows
from edgehost.bench.common import POSITIVE_MS, emit, gbps
from edgehost.errors import EdgehostError, IsolationUnavailable
from edgehost.kernels import json as jk
from edgehost.kernels._common import use_variant, variants

WORDS = ["edge", "host", "kernel", "simd", "tenant", "wasm", "latency", "cache", "vector",
         "東京", "ラーメン", "おはよう", "日本語", "😀", "🚀", "café", "naïve", "Ünïcödé"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def twitter_like(target: int = 630_000, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    statuses = []
    size = 0
    while size < target:
        uid = rng.randrange(10**8, 10**10)
        tid = rng.randrange(10**17, 10**18)
        user = {
            "id": uid, "id_str": str(uid), "name": _text(rng, 2),
            "screen_name": f"user_{uid % 9973}", "location": _text(rng, 1),
            "description": _text(rng, rng.randrange(3, 15)),
            "url": None if rng.random() < 0.5 else f"http://t.co/{uid:x}",
            "protected": False, "followers_count": rng.randrange(100000),
            "friends_count": rng.randrange(5000), "created_at": "Sun Aug 31 00:29:15 +0000 2014",
            "favourites_count": rng.randrange(10000), "utc_offset": None, "time_zone": None,
            "geo_enabled": rng.random() < 0.3, "verified": False, "lang": "ja",
            "profile_background_color": "C0DEED",
            "profile_image_url": f"http://pbs.twimg.com/profile_images/{uid}/a_normal.jpeg",
            "default_profile": True, "following": False,
        }
        st = {
            "metadata": {"result_type": "recent", "iso_language_code": "ja"},
            "created_at": "Sun Aug 31 00:29:15 +0000 2014", "id": tid, "id_str": str(tid),
            "text": _text(rng, rng.randrange(5, 25)), "source": "<a href=\"http://x.y\">web</a>",
            "truncated": False, "in_reply_to_status_id": None, "user": user, "geo": None,
            "retweet_count": rng.randrange(1000), "favorite_count": rng.randrange(100),
            "entities": {"hashtags": [{"text": _text(rng, 1), "indices": [rng.randrange(99), 99]}
                                      for _ in range(rng.randrange(3))],
                         "symbols": [], "urls": [],
                         "user_mentions": [{"screen_name": f"u{rng.randrange(999)}",
                                            "id": rng.randrange(10**9), "indices": [0, 9]}]},
            "favorited": False, "retweeted": False, "lang": "ja",
        }
        # about half the strings \u-escaped and '/' escaped, as Twitter's API does
        text = stdjson.dumps(st, ensure_ascii=rng.random() < 0.5)
        text = text.replace("/", "\\/")
        statuses.append(text)
        size += len(text.encode())
    meta = '{"completed_in":0.087,"max_id":505874924095815700,"query":"%E4%B8%80","count":100}'
    return ('{"statuses":[' + ",".join(statuses) + '],"search_metadata":' + meta + "}").encode()


def citm_like(target: int = 1_700_000, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    area_names = {str(205705993 + i): _text(rng, 2) for i in range(60)}
    events, performances = {}, []
    size = 0
    i = 0
    while size < target:
        eid = 138586341 + i
        events[str(eid)] = {"description": None, "id": eid, "logo": None,
                            "name": _text(rng, 3), "subTopicIds": [337184269, 337184283],
                            "subjectCode": None, "subtitle": None,
                            "topicIds": [324846099, 107888604]}
        performances.append({
            "eventId": eid, "id": 339887544 + i, "logo": None, "name": None,
            "prices": [{"amount": rng.randrange(10, 300) * 1000,
                        "audienceSubCategoryId": 337100890,
                        "seatCategoryId": 338937295 + k} for k in range(rng.randrange(1, 4))],
            "seatCategories": [{"areas": [{"areaId": 205705999 + a, "blockIds": []}
                                          for a in range(rng.randrange(1, 6))],
                                "seatCategoryId": 338937295 + k} for k in range(2)],
            "seatMapImage": None, "start": 1372701600000 + i * 86400000,
            "venueCode": "PLEYEL_PLEYEL"})
        size += 1100
        i += 1
    doc = {"areaNames": area_names, "audienceSubCategoryNames": {"337100890": "Abonné"},
           "blockNames": {}, "events": events, "performances": performances,
           "seatCategoryNames": {"338937295": "1ère catégorie"}, "subTopicNames": {},
           "subjectNames": {}, "topicNames": {"107888604": "Activité"},
           "topicSubTopics": {"107888604": [324846100]}, "venueNames": {"PLEYEL_PLEYEL": "Salle"}}
    return stdjson.dumps(doc, indent=4, ensure_ascii=False).encode()


def canada_like(target: int = 2_200_000, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    rings, size = [], 0
    while size < target:
        ring = []
        x, y = rng.uniform(-141, -52), rng.uniform(41, 83)
        for _ in range(2000):
            x += rng.uniform(-0.01, 0.01)
            y += rng.uniform(-0.01, 0.01)
            ring.append(f"[{x:.15f},{y:.15f}]")
        text = "[" + ",".join(ring) + "]"
        rings.append(text)
        size += len(text)
    return ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            '{"name":"Canada"},"geometry":{"type":"Polygon","coordinates":['
            + ",".join(rings) + "]}}]}").encode()


DOCS = {"twitter": twitter_like, "citm": citm_like, "canada": canada_like}


def _row(impl, variant, isolation, name, doc, seconds, **extra):
    row = {"bench": "json", "impl": impl, "variant": variant, "isolation": isolation,
           "input": name, "size": len(doc), "gbps": gbps(len(doc), seconds) if seconds else None}
    row.update(extra)
    return row


def reference_tokens(doc: bytes) -> int:
    """The structural-token count of a valid ``doc`` by the scalar variant
    (the reference parser), after Python's json has accepted it."""
    stdjson.loads(doc)
    with use_variant("json", "scalar"):
        res = NativeRequest(jk.KERNEL_VALIDATE, doc, out_cap=jk.scratch_size(len(doc))).run()
    return res.value


def _ours(name, doc, target_s):
    scratch = jk.scratch_size(len(doc))
    want = reference_tokens(doc)
    for variant, ok in variants("json"):
        if not ok:
            why = "wasm32 (-msimd128) builds only" if variant == "simd128" else "CPU lacks it"
            yield _row("edgehost validate", variant, "inproc", name, doc, None, note=why)
            continue
        with use_variant("json", variant):
            req = NativeRequest(jk.KERNEL_VALIDATE, doc, out_cap=scratch)
            res = req.run()
            if res.status != 0 or res.value != want:  # checked before timing
                yield _row("edgehost validate", variant, "inproc", name, doc, None,
                           note=f"wrong answer (status {res.status}, {res.value} tokens, "
                                f"expected {want}): not timed")
                continue
            yield _row("edgehost validate", variant, "inproc", name, doc, req.seconds(target_s))
    req = NativeRequest(jk.KERNEL_MINIFY, doc, out_cap=max(scratch, len(doc)))
    yield _row("edgehost minify", "auto", "inproc", name, doc, req.seconds(target_s))
    yield _row("edgehost api validate", "auto", "inproc", name, doc,
               call_seconds(lambda: jk.json_validate(doc, isolation="inproc"), target_s))


def _kvm(name, doc, target_s):
    """Timed only after a kvm answer matches the in-process one."""
    try:
        same = [jk.json_check(doc, isolation="kvm") for _ in range(3)]
    except IsolationUnavailable as exc:
        return _row("edgehost api validate", "auto", "kvm", name, doc, None, note=str(exc))
    ref = jk.json_check(doc, isolation="inproc")
    if any(r != ref for r in same):
        return _row("edgehost api validate", "auto", "kvm", name, doc, None,
                    note=f"kvm answered {same}, inproc {ref}: not timed")
    return _row("edgehost api validate", "auto", "kvm", name, doc,
                call_seconds(lambda: jk.json_validate(doc, isolation="kvm"), target_s))


def _kvm_guest(name, doc, target_s):
    """Each variant in a guest, then the kernel's own speed there."""
    val = NativeRequest(jk.KERNEL_VALIDATE, doc, out_cap=jk.scratch_size(len(doc)))
    yield from kvm_variant_rows(
        "json", val, target_s,
        lambda variant, iso, secs, **kw: _row("edgehost validate", variant, iso, name, doc, secs,
                                              **kw),
        "per call: input copy into the guest + doorbell + kernel")


def _wasm(docs, target_s):
    from edgehost.bench.wasmkernels import WasmKernels

    runs = [("scalar", "scalar"), ("simd128", "scalar"), ("simd128", "simd128")]
    for flavor, variant in runs:
        try:
            wk = WasmKernels(flavor, force=f"json={variant}")
        except EdgehostError as exc:
            yield {"bench": "json", "impl": "edgehost validate", "variant": variant,
                   "isolation": f"wasm/{flavor}", "input": "-", "size": 0, "gbps": None,
                   "note": str(exc)}
            continue
        for name, doc in docs.items():
            wk.reset()
            cap = jk.scratch_size(len(doc))
            out = wk.alloc(cap + 4)
            out += -out % 4
            wk.request(jk.KERNEL_VALIDATE, data=(wk.put(doc), len(doc)), out=(out, cap))
            status, _, value, *_ = wk.run()
            if status != 0 or value != reference_tokens(doc):
                yield _row("edgehost validate", variant, f"wasm/{flavor}", name, doc, None,
                           note=f"wrong answer (status {status}, {value} tokens): not timed")
                continue
            yield _row("edgehost validate", variant, f"wasm/{flavor}", name, doc,
                       min(wk.seconds_per_run(target_s=target_s)))


def _peers(name, doc, target_s):
    try:
        import simdjson
    except ImportError:
        yield _row("simdjson parse", "pysimdjson", "inproc", name, doc, None,
                   note="pip install pysimdjson")
    else:
        parser = simdjson.Parser()
        yield _row("simdjson parse", "pysimdjson", "inproc", name, doc,
                   call_seconds(lambda: parser.parse(doc), target_s))
    try:
        import orjson
    except ImportError:
        yield _row("orjson loads", "orjson", "inproc", name, doc, None, note="pip install orjson")
    else:
        yield _row("orjson loads", "orjson", "inproc", name, doc,
                   call_seconds(lambda: orjson.loads(doc), target_s))
    yield _row("json loads", "stdlib", "inproc", name, doc,
               call_seconds(lambda: stdjson.loads(doc), target_s))


def _interleaved_ratio(doc, target_s, rounds: int = 15):
    """Our validation over simdjson's parse, timed in alternation so both see
    the same machine load; best time of each. None without pysimdjson."""
    try:
        import simdjson
    except ImportError:
        return None
    parser = simdjson.Parser()
    req = NativeRequest(jk.KERNEL_VALIDATE, doc, out_cap=jk.scratch_size(len(doc)))
    n = max(1, int(target_s / 3 / max(len(doc) / 3e9, 1e-7)))
    ours = theirs = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        req.run(n)
        t1 = time.perf_counter()
        for _ in range(n):
            parser.parse(doc)
        t2 = time.perf_counter()
        ours, theirs = min(ours, (t1 - t0) / n), min(theirs, (t2 - t1) / n)
    return theirs / ours


@click.command("json")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--inputs", default=",".join(DOCS), show_default=True,
              help="Comma-separated generated documents.")
@click.option("--target-ms", default=30.0, show_default=True, type=POSITIVE_MS,
              help="Length of one timed run; each figure is the median of 5.")
@click.option("--no-wasm", is_flag=True, help="Skip the wasm32 rows.")
def command(as_json, inputs, target_ms, no_wasm):
    """JSON validation throughput by variant and isolation, next to simdjson/orjson/json."""
    target_s = target_ms / 1000
    names = [n for n in inputs.split(",") if n]
    unknown = [n for n in names if n not in DOCS]
    if unknown or not names:
        raise click.BadParameter(f"unknown document {unknown[0] if unknown else inputs!r} "
                                 f"(choose from {', '.join(DOCS)})", param_hint="--inputs")
    docs = {name: DOCS[name]() for name in names}
    rows = []
    for name, doc in docs.items():
        rows += list(_ours(name, doc, target_s))
        rows.append(_kvm(name, doc, target_s))
        rows += list(_kvm_guest(name, doc, target_s))
        rows += list(_peers(name, doc, target_s))
        ratio = _interleaved_ratio(doc, target_s)
        if ratio is not None:
            rows.append({"bench": "json", "impl": "ratio validate/simdjson", "input": name,
                         "size": len(doc), "gbps": None, "ratio": ratio, "target": ">= 0.9",
                         "note": "interleaved runs, best of each (robust to a busy machine)"})
    if not no_wasm:
        rows += list(_wasm(docs, target_s))
    emit(rows, as_json, title="JSON (GB/s; medians of 5)")
