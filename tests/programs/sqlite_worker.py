"""Processes on one SQLite store file, for tests/stores/test_sqlite.py.

Usage:
    python sqlite_worker.py commit DB INSTANCE_ID PAD SYNCHRONOUS
        commits checkpoint after checkpoint (seq + 1, a snapshot of PAD bytes naming its seq)
        forever, printing each seq once `commit` has returned; killed by the test.
    python sqlite_worker.py race DB INSTANCE_ID N NAME
        reads the seq and tries to commit the next one, until seq N; every saved commit
        appends the history entry {"seq": s, "by": NAME}. Prints how many it won.

Prints "ready" once the store is open, then waits for a line on stdin before it starts
(so that racers start together).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from durable import SQLiteStateStore
from durable._model import InstanceHeader

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def header(seq: int) -> InstanceHeader:
    return InstanceHeader(seq, "paused", "tests:worker", T0, T0, events=(f"tick-{seq}",))


def snapshot(seq: int, pad: int) -> bytes:
    return json.dumps({"seq": seq, "pad": "x" * pad}).encode()


def main() -> None:
    mode, db, instance_id = sys.argv[1:4]
    if mode == "commit":
        pad, synchronous = int(sys.argv[4]), sys.argv[5]
        store = SQLiteStateStore(db, synchronous=synchronous)  # type: ignore[arg-type]
        print("ready", flush=True)
        sys.stdin.readline()
        seq = store.read(instance_id).seq or 0
        while True:
            assert store.commit(instance_id, seq, header(seq + 1), snapshot(seq + 1, pad))
            seq += 1
            print(seq, flush=True)
    elif mode == "race":
        n, name = int(sys.argv[4]), sys.argv[5]
        store = SQLiteStateStore(db)
        print("ready", flush=True)
        sys.stdin.readline()
        wins = 0
        while (seq := store.read(instance_id).seq or 0) < n:
            entry = json.dumps({"seq": seq + 1, "by": name}).encode()
            if store.commit(instance_id, seq, header(seq + 1), snapshot(seq + 1, 0), (), [entry]):
                wins += 1
        print(wins, flush=True)
        store.close()


if __name__ == "__main__":
    main()
