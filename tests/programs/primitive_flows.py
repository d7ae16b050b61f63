"""Workflows using the primitives inside loops, try/except/finally, match and nested durable
calls, for tests/runtime/test_primitives_differential.py (also run as a script in a fresh
process: ``python primitive_flows.py ANYIO_BACKEND STORE_DIR CLOCK_FILE PROGRAM ARG``, which
calls the program once and prints one JSON line: the result, or what it waits for).

Side effects go to `LOG`; an event's payload is whatever the driver publishes.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import durable
from durable import EventTimeoutError, RetryPolicy, make_durable

LOG: list[Any] = []
FAILS: dict[str, int] = {}


@durable.step(retry=RetryPolicy(max_attempts=3, initial_interval=60, jitter=False))
async def flaky(tag: str) -> str:
    attempt = durable.current_step().attempt
    LOG.append(("flaky", tag, attempt))
    if attempt < FAILS.get(tag, 1):
        raise ConnectionError(tag)
    return f"{tag}@{attempt}"


async def _inner(label: str) -> str:
    got = await durable.wait_for_event(f"inner-{label}")
    LOG.append(("inner", label, got))
    return f"{label}:{got}"


inner = make_durable(_inner)


async def _loop_flow(n: int) -> list[Any]:
    out = []
    for i in range(n):
        value = await durable.wait_for_event("item", timeout=3600 if i % 2 else None)
        match value:
            case {"skip": True}:
                LOG.append(("skip", i))
                continue
            case int(k) if k > 100:
                LOG.append(("big", i))
                break
            case _:
                out.append(value)
        await durable.sleep(30 * (i + 1))
    return out


async def _try_flow(tag: str) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    try:
        notes["first"] = await durable.wait_for_event("approve", timeout=timedelta(hours=2))
    except EventTimeoutError as e:
        notes["timed_out"] = e.event
        notes["first"] = await inner("late")
    finally:
        LOG.append(("finally", tag))
        notes["receipt"] = await flaky(tag)
    try:
        await durable.sleep_until(datetime(2030, 1, 2, tzinfo=UTC))
        notes["second"] = await inner("b")
        if notes["second"].endswith("boom"):
            raise ValueError(notes["second"])
    except ValueError as e:
        notes["error"] = str(e)
    return notes


loop_flow = make_durable(_loop_flow)
try_flow = make_durable(_try_flow)
PROGRAMS = {"loop": loop_flow, "try": try_flow}


async def _main(store_dir: str, clock_file: str, name: str, arg: str) -> None:
    from durable import DiskStateStore, DurableBackend, Suspended
    from durable.testing import VirtualClock

    with open(clock_file, encoding="utf-8") as f:
        clock = VirtualClock(datetime.fromisoformat(f.read().strip()))
    backend = DurableBackend(DiskStateStore(store_dir), clock=clock)
    try:
        result = await PROGRAMS[name](
            json.loads(arg), orchestration_backend=backend, instance_id=name
        )
    except Suspended as s:
        wake = s.wake_at.isoformat() if s.wake_at else None
        print(json.dumps({"event": s.event, "wake_at": wake, "log": LOG}, default=repr))
    else:
        print(json.dumps({"result": result, "log": LOG}, default=repr))


if __name__ == "__main__":
    import anyio

    backend_name, *rest = sys.argv[1:]
    anyio.run(_main, *rest, backend=backend_name)
