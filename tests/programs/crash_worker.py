"""A long durable loop for tests/test_crash.py, killed with SIGKILL at random moments.

Usage: python crash_worker.py ANYIO_BACKEND STORE LOG_FILE INSTANCE_ID N PAD SLEEP

STORE is a `DiskStateStore` folder, or an SQLite file when it ends in ``.db``.

Each iteration appends "step i" to LOG_FILE (flushed and fsync-ed), then pauses on the event
"tick-i" (published up front by the test, so the pause is a checkpoint that goes straight on).
PAD characters of live state make every snapshot bigger, so that kills land inside writes;
SLEEP seconds of plain `anyio.sleep` after each step's log line widen the window in which a kill
makes the step run again.
Prints "ready" once imported, then one JSON line {"result": ...} or {"paused": event}.
"""

from __future__ import annotations

import json
import os
import sys

import anyio

from durable import (
    DiskStateStore,
    DurableBackend,
    PauseForEventException,
    SQLiteStateStore,
    make_durable,
)

LOG = sys.argv[3]


def log(line: str) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{line}\n")
        f.flush()
        os.fsync(f.fileno())


async def ticker(n: int, pad: int, sleep: float):
    padding = "x" * pad
    total = 0
    for i in range(n):
        log(f"step {i}")
        await anyio.sleep(sleep)
        total += i
        raise PauseForEventException(f"tick-{i}")
    return [total, len(padding)]


durable_ticker = make_durable(ticker)


async def main(store_dir: str, instance_id: str, n: int, pad: int, sleep: float) -> None:
    store = SQLiteStateStore(store_dir) if store_dir.endswith(".db") else DiskStateStore(store_dir)
    backend = DurableBackend(store)
    print("ready", flush=True)
    try:
        result = await durable_ticker(
            n, pad, sleep, orchestration_backend=backend, instance_id=instance_id
        )
    except PauseForEventException as e:
        print(json.dumps({"paused": e.event}), flush=True)
    else:
        print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    backend_name, store, _, iid, n_text, pad_text, sleep_text = sys.argv[1:]
    anyio.run(main, store, iid, int(n_text), int(pad_text), float(sleep_text), backend=backend_name)
