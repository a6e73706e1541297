"""A worker process for the kv tests: opens the store itself, loads the
KV_WAT tenant, prints ``ready``, then runs one command per stdin line and
answers on stdout (flushed at once, so a line read means the write it
reports has returned from kv_put):

    put KEYHEX VALHEX        -> rc
    get KEYHEX               -> rc [VALHEX]
    write PREFIX N SIZE      -> "ok I" after each put of PREFIX-I (SIZE bytes), then "done"
    fill PREFIX SIZE         -> "filled PUTS REFUSAL"
    quit
A call the store failed (StoreUnavailable) answers "unavailable REASON".
"""

from __future__ import annotations

import argparse
import sys

from edgehost.errors import StoreUnavailable
from edgehost.state import open_store
from tests.state.support import OP_GET, fill, kv, kv_tenant, put


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kv", required=True)
    ap.add_argument("--data")
    ap.add_argument("--name", required=True)
    ap.add_argument("--limit", action="append", default=[])
    args = ap.parse_args()
    limits = {k: int(v) for k, v in (item.split("=") for item in args.limit)}
    store = open_store(args.kv, args.data)
    t = kv_tenant(store, args.name, limits=limits)
    out = sys.stdout
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "quit":
            break
        try:
            run(t, cmd, rest, out)
        except StoreUnavailable as exc:
            print(f"unavailable {exc}", file=out, flush=True)


def run(t, cmd: str, rest: list[str], out) -> None:
    if cmd == "put":
        print(put(t, bytes.fromhex(rest[0]), bytes.fromhex(rest[1]) if len(rest) > 1 else b""),
              file=out, flush=True)
    elif cmd == "get":
        rc, data = kv(t, OP_GET, bytes.fromhex(rest[0]))
        print(f"{rc} {data.hex()}" if rc >= 0 else rc, file=out, flush=True)
    elif cmd == "write":
        prefix, n, size = rest[0], int(rest[1]), int(rest[2])
        for i in range(n):
            rc = put(t, f"{prefix}-{i}".encode(), bytes([i % 251]) * size)
            print(f"ok {i}" if rc == 0 else f"err {i} {rc}", file=out, flush=True)
        print("done", file=out, flush=True)
    elif cmd == "fill":
        puts, refusal = fill(t, rest[0].encode() + b"\0\0\0\0", int(rest[1]))
        print(f"filled {puts} {refusal}", file=out, flush=True)
    else:
        print(f"unknown command {cmd}", file=out, flush=True)


if __name__ == "__main__":
    main()
