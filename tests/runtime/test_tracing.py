"""Structured events and the audit history of a pause/resume run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog

from durable import (
    EVENTS,
    DiskStateStore,
    DurableBackend,
    InMemoryStateStore,
    PauseForEventException,
    StateStore,
    make_durable,
)
from durable.testing import capture_events


async def _child(x: int) -> int:
    return x * 2


async def _flow(x: int) -> int:
    y = await child(x)
    raise PauseForEventException("approve")
    return y + 1


child = make_durable(_child)
flow = make_durable(_flow)

EXPECTED = [
    # first call: start, nested call, pause
    ("instance.started", "_flow"),
    ("block.completed", "_flow"),
    ("checkpoint.saved", "_flow"),
    ("block.completed", "_flow"),
    ("call.entered", "_child"),
    ("checkpoint.saved", "_child"),
    ("call.returned", "_child"),
    ("block.completed", "_flow"),
    ("checkpoint.saved", "_flow"),
    ("instance.paused", "_flow"),
    ("block.completed", "_flow"),
    ("checkpoint.saved", "_flow"),
    # a call before the event: nothing runs
    ("instance.still_waiting", None),
    ("event.published", None),
    # the resume
    ("instance.resumed", "_flow"),
    ("event.consumed", "_flow"),
    ("block.completed", "_flow"),
    ("instance.completed", "_flow"),
    ("checkpoint.saved", "_flow"),
]


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return InMemoryStateStore() if request.param == "memory" else DiskStateStore(tmp_path)


async def _run(store: StateStore) -> int:
    backend = DurableBackend(store)
    for _ in range(2):
        with pytest.raises(PauseForEventException):
            await flow(20, orchestration_backend=backend, instance_id="f-1")
    backend.publish_event("f-1", "approve")
    return await flow(20, orchestration_backend=backend, instance_id="f-1")


def _shape(events: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [
        (e["event"], str(e["function"]).rsplit(":", 1)[-1] if "function" in e else None)
        for e in events
    ]


async def test_event_sequence_of_a_pause_resume_run(store: StateStore) -> None:
    """A run with a nested call, a pause, an early call and a resume emits exactly these
    events, each naming the instance and, where it applies, the function and point."""
    with capture_events() as events:
        assert await _run(store) == 41
    assert _shape(events) == EXPECTED
    assert all(e["instance_id"] == "f-1" for e in events)
    assert all(e["event"] in EVENTS for e in events)
    paused = next(e for e in events if e["event"] == "instance.paused")
    assert paused["event_name"] == "approve"
    assert paused["point"] == 2
    assert all(e["duration_ms"] >= 0 for e in events if "duration_ms" in e)


async def test_structlog_capture_logs_sees_the_events(store: StateStore) -> None:
    """An app using structlog gets durable's events through structlog."""
    with structlog.testing.capture_logs() as logs:
        assert await _run(store) == 41
    assert _shape([e for e in logs if "instance_id" in e]) == EXPECTED


async def test_stdlib_logging_by_default(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Without structlog configured, events go to the stdlib logger `durable`, fields as
    record attributes, and nothing is printed."""
    structlog.reset_defaults()
    with caplog.at_level(logging.INFO, logger="durable"):
        assert await _run(store) == 41
    records = [r for r in caplog.records if r.name == "durable"]
    assert [r.getMessage() for r in records] == [name for name, _ in EXPECTED]
    assert all(getattr(r, "instance_id", None) == "f-1" for r in records)


async def test_history_is_kept_in_the_store(store: StateStore) -> None:
    """The audit history records every step in order with its checkpoint's sequence number,
    and survives a fresh backend (it lives in the store)."""
    await _run(store)
    history = DurableBackend(store).read_history("f-1")
    kinds = [h["kind"] for h in history]
    assert kinds == [
        name for name, _ in EXPECTED if name not in ("checkpoint.saved", "instance.still_waiting")
    ]
    seqs = [h["seq"] for h in history if "seq" in h]
    assert seqs == sorted(seqs)
    assert all("at" in h for h in history)
