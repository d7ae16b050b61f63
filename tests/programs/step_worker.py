"""Steps and a gather under kill -9, for tests/runtime/test_crash_primitives.py.

Usage: python step_worker.py ANYIO_BACKEND STORE_DIR LOG_FILE INSTANCE_ID

The workflow charges three times through a flaky step (every attempt but the third of each
call fails) with a retry policy of short real-time backoff, then fans out to four children
that each run a slow step. Every attempt logs "start <step> <call> <attempt> <key>" before its
work and "end ..." after it (fsync-ed), so the test can count attempts and check that a
completed step never runs again. The worker drives the instance until it finishes: on
`Suspended` it sleeps until the wake time and calls again. Prints "ready", then the result.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

import anyio

import durable
from durable import DiskStateStore, DurableBackend, RetryPolicy, Suspended, make_durable

LOG = sys.argv[3]


def log(line: str) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{line}\n")
        f.flush()
        os.fsync(f.fileno())


@durable.step(retry=RetryPolicy(max_attempts=5, initial_interval=0.05, backoff=2, jitter=False))
async def charge(call: int) -> str:
    info = durable.current_step()
    log(f"start charge {call} {info.attempt} {info.idempotency_key}")
    await anyio.sleep(0.03)
    if info.attempt < 3:
        log(f"fail charge {call} {info.attempt} {info.idempotency_key}")
        raise ConnectionError(f"attempt {info.attempt}")
    log(f"end charge {call} {info.attempt} {info.idempotency_key}")
    return f"r{call}"


@durable.step
def pack(parcel: int) -> int:
    info = durable.current_step()
    log(f"start pack {parcel} {info.attempt} {info.idempotency_key}")
    import time

    time.sleep(0.05)
    log(f"end pack {parcel} {info.attempt} {info.idempotency_key}")
    return parcel * 10


async def parcel(n: int) -> int:
    return await pack(n)


durable_parcel = make_durable(parcel)


async def workflow() -> list[object]:
    receipts = []
    for call in range(3):
        receipts.append(await charge(call))
    packed = await durable.gather(*(durable_parcel(n) for n in range(4)))
    return [*receipts, *packed]


durable_workflow = make_durable(workflow)


async def main(store_dir: str, instance_id: str) -> None:
    backend = DurableBackend(DiskStateStore(store_dir))
    print("ready", flush=True)
    while True:
        try:
            result = await durable_workflow(orchestration_backend=backend, instance_id=instance_id)
        except Suspended as s:
            delay = 0.01 if s.wake_at is None else (s.wake_at - datetime.now(UTC)).total_seconds()
            await anyio.sleep(max(delay, 0.0))
            continue
        print(json.dumps({"result": result}), flush=True)
        return


if __name__ == "__main__":
    backend_name, store, _, iid = sys.argv[1:]
    anyio.run(main, store, iid, backend=backend_name)
