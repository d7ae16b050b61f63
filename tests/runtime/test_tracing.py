"""Structured events and the audit history of a pause/resume run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Every test starts and ends with structlog unconfigured."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


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


# --- Where events go, seen from an application: each scenario runs in a fresh process, since
# structlog's default PrintLogger holds the stdout that existed when structlog was imported,
# which no pytest capture fixture replaces.

_APP = """
import asyncio, json, logging, sys
import structlog
from durable import DurableBackend, InMemoryStateStore, PauseForEventException, make_durable
from durable.testing import capture_events

async def _flow(x: int) -> int:
    raise PauseForEventException("approve")
    return x + 1

flow = make_durable(_flow)

async def main() -> None:
    backend = DurableBackend(InMemoryStateStore())
    try:
        await flow(1, orchestration_backend=backend, instance_id="a-1")
    except PauseForEventException:
        pass
    backend.publish_event("a-1", "approve")
    assert await flow(1, orchestration_backend=backend, instance_id="a-1") == 2

{setup}
with capture_events() as events:
    asyncio.run(main())
print(json.dumps([e["event"] for e in events]), file=sys.stderr)
"""


ROOT = Path(__file__).resolve().parents[2]


def _run_app(tmp_path: Path, setup: str) -> tuple[list[str], list[str]]:
    """Run the app after `setup`; return its stdout lines and the captured event names."""
    app = tmp_path / "app.py"  # durable reads the source of its functions from a file
    app.write_text(_APP.format(setup=textwrap.dedent(setup)), encoding="utf-8")
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    done = subprocess.run(
        [sys.executable, str(app)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = json.loads(done.stderr.strip().splitlines()[-1])
    assert "instance.completed" in names
    return done.stdout.splitlines(), names


def test_structlog_configured_the_usual_way_gets_the_events(tmp_path: Path) -> None:
    """`structlog.configure(processors=[...])` keeping the default PrintLoggerFactory: every
    event goes through the application's processors to stdout."""
    out, names = _run_app(
        tmp_path,
        """
        structlog.configure(processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ])
        """,
    )
    lines = [json.loads(line) for line in out]
    assert [line["event"] for line in lines] == names
    assert all(line["instance_id"] == "a-1" and "timestamp" in line for line in lines)


def test_structlog_with_a_stdlib_logger_factory_gets_the_events(tmp_path: Path) -> None:
    """structlog routed into stdlib logging (`recreate_defaults`) gets them too."""
    out, names = _run_app(
        tmp_path,
        """
        structlog.stdlib.recreate_defaults(log_level=logging.INFO)
        logging.basicConfig(stream=sys.stdout, format="%(message)s", level=logging.INFO)
        """,
    )
    assert [line for line in out if "instance_id" in line]
    assert all(any(name in line for line in out) for name in names)


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param("", id="unconfigured"),
        pytest.param("structlog.configure()", id="bare-configure"),
        pytest.param(
            "with structlog.testing.capture_logs():\n    structlog.get_logger().info('x')",
            id="after-capture_logs",
        ),
    ],
)
def test_structlog_builtin_defaults_print_nothing(tmp_path: Path, setup: str) -> None:
    """Unconfigured structlog, the state `capture_logs()` leaves behind, and a bare
    `structlog.configure()` (the same state) all count as unconfigured: durable prints
    nothing and logs through the silent stdlib logger."""
    out, _ = _run_app(tmp_path, setup)
    assert out == []


def test_unconfigured_structlog_uses_stdlib_logging_when_enabled(tmp_path: Path) -> None:
    """With structlog unconfigured, an application that enables logging sees the events."""
    out, names = _run_app(
        tmp_path,
        'logging.basicConfig(stream=sys.stdout, format="%(name)s %(message)s", level="INFO")',
    )
    assert out == [f"durable {name}" for name in names]


def test_the_readme_lists_every_event() -> None:
    """The README's table of events is `durable.EVENTS`, row for row."""
    import pathlib

    from durable import EVENTS

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `") and "` | " in line]
    table = {row.split("`")[1]: row.split(" | ", 1)[1].rstrip(" |") for row in rows}
    assert {k: table.get(k) for k in EVENTS} == EVENTS
