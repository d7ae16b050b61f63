"""The primitives in loops, try/except/finally, match and nested calls: a run that stops at
every wait (a fresh backend for every call, on every store; or a fresh process every call)
ends with the same result and side effects as a run that never stops, because every event is
there and every time has passed before it starts."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from programs import primitive_flows as flows

from durable import DiskStateStore, DurableBackend, StateStore, Suspended
from durable.testing import VirtualClock

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "programs" / "primitive_flows.py"

# Per case: the program, its argument, the payloads of events in the order they are asked
# for (None: let that wait time out), and how many attempts each flaky step fails.
CASES: dict[str, tuple[str, Any, list[Any], dict[str, int]]] = {
    "loop-values": ("loop", 4, [1, {"skip": True}, "x", (2, 3)], {}),
    "loop-break": ("loop", 5, [7, 500], {}),
    "try-approved": ("try", "t1", [{"by": "Ada"}, "ok"], {"t1": 2}),
    "try-timeout": ("try", "t2", [None, "late!", "boom"], {"t2": 3}),
}


class RacingClock:
    """A clock a day further on every time it is read: every deadline and wake-up time has
    passed by the time it is checked."""

    def __init__(self) -> None:
        self.at = datetime(2031, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.at += timedelta(days=1)
        return self.at


def straight_through(store: StateStore, name: str, events: list[tuple[str, Any]]) -> Any:
    """The oracle's backend: every event published first, every time passed."""
    backend = DurableBackend(store, clock=RacingClock())
    for event, payload in events:
        if payload is not None:
            backend.publish_event(name, event, payload)
    return backend


async def stop_at_every_wait(
    store: StateStore, name: str, arg: Any, payloads: list[Any]
) -> tuple[Any, list[tuple[str, Any]]]:
    clock = VirtualClock()
    program = flows.PROGRAMS[name]
    asked: list[tuple[str, Any]] = []
    queue = list(payloads)
    for _ in range(50):
        try:
            backend = DurableBackend(store, clock=clock)  # a fresh backend every call
            return await program(arg, orchestration_backend=backend, instance_id=name), asked
        except Suspended as s:
            if s.event is not None and (s.wake_at is None or (queue and queue[0] is not None)):
                payload = queue.pop(0)
                asked.append((s.event, payload))
                backend.publish_event(name, s.event, payload)
            else:
                if s.event is not None:
                    queue.pop(0)
                    asked.append((s.event, None))
                assert s.wake_at is not None
                clock.advance(s.wake_at - clock.now())
    raise AssertionError("never finished")


@pytest.mark.parametrize("case", sorted(CASES))
async def test_stopping_at_every_wait_changes_nothing(
    store: StateStore, case: str, tmp_path: pathlib.Path
) -> None:
    name, arg, payloads, fails = CASES[case]
    flows.FAILS.clear()
    flows.FAILS.update(fails)
    flows.LOG.clear()
    stopped, asked = await stop_at_every_wait(store, name, arg, payloads)
    stopped_log = list(flows.LOG)

    flows.LOG.clear()
    oracle_store = DiskStateStore(tmp_path / "oracle")
    backend = straight_through(oracle_store, name, asked)
    oracle = await flows.PROGRAMS[name](arg, orchestration_backend=backend, instance_id=name)
    assert stopped == oracle
    assert stopped_log == flows.LOG
    assert any(kind == "flaky" for kind, *_ in stopped_log) == (name == "try")


def test_a_fresh_process_for_every_call(tmp_path: pathlib.Path) -> None:
    """The same workflow, each call in a new process over one disk store."""
    store, clock_file = tmp_path / "store", tmp_path / "clock"
    now = datetime(2030, 1, 1, tzinfo=UTC)
    flows.FAILS.clear()
    payloads = [{"by": "Ada"}, "ok"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs: list[Any] = []
    for _ in range(20):
        clock_file.write_text(now.isoformat())
        argv = [sys.executable, str(SCRIPT), "asyncio", str(store), str(clock_file), "try", '"p1"']
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        logs.extend(answer["log"])
        if "result" in answer:
            break
        if answer["event"] is not None and payloads:
            DurableBackend(DiskStateStore(store)).publish_event(
                "try", answer["event"], payloads.pop(0)
            )
        else:
            now = datetime.fromisoformat(answer["wake_at"]) + timedelta(seconds=1)
    else:
        raise AssertionError("never finished")
    assert answer["result"] == {"first": {"by": "Ada"}, "receipt": "p1@1", "second": "b:ok"}
    # Every side effect ran once, in order, across all the processes.
    assert [entry[0] for entry in logs] == ["finally", "flaky", "inner"]
