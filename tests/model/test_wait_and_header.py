"""The wait union, the instance header derived from a snapshot, and the format 1 -> 2 upgrade."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest

from durable import IncompatibleSnapshotError, SnapshotValidationError
from durable._model import (
    FORMAT_VERSION,
    ChildrenWait,
    EventWait,
    InstanceHeader,
    RetryWait,
    Snapshot,
    TimerWait,
    header_of,
    is_ready,
    read_snapshot,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

WAITS: list[Any] = [
    EventWait(name="approve"),
    EventWait(name="approve", deadline=T0 + timedelta(days=2)),
    TimerWait(wake_at=T0 + timedelta(days=30)),
    RetryWait(step="charge", attempt=2, next_attempt_at=T0 + timedelta(seconds=4)),
    ChildrenWait(ids=("p/0", "p/1"), mode="all"),
    ChildrenWait(ids=("p/0", "p/1"), mode="first"),
]


def snapshot_dict(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "instance_id": "i-1",
        "program": {"qualname": "m:f", "fingerprint": "abc"},
        "seq": 3,
        "status": "paused",
        "call_stack": {"frames": []},
        "created_at": T0.isoformat(),
        "updated_at": (T0 + timedelta(minutes=1)).isoformat(),
    }
    return {**base, **changes}


@pytest.mark.parametrize("wait", WAITS, ids=lambda w: w.kind)
def test_every_wait_round_trips_through_a_snapshot(wait: Any) -> None:
    raw = json.dumps(snapshot_dict(wait=wait.model_dump(mode="json")))
    snap = read_snapshot("i-1", raw.encode())
    assert snap.wait == wait and type(snap.wait) is type(wait)
    with pytest.raises(pydantic.ValidationError):
        wait.kind = "other"  # frozen


def test_waits_refuse_naive_datetimes_and_unknown_kinds() -> None:
    with pytest.raises(pydantic.ValidationError):
        TimerWait(wake_at=datetime(2026, 1, 1))
    with pytest.raises(SnapshotValidationError, match="instance 'i-1'"):
        read_snapshot("i-1", snapshot_dict(wait={"kind": "telepathy"}))


@pytest.mark.parametrize("wait", WAITS, ids=lambda w: w.kind)
def test_the_header_summarises_the_wait_and_round_trips(wait: Any) -> None:
    snap = read_snapshot("i-1", snapshot_dict(wait=wait.model_dump(mode="json")))
    header = header_of(snap)
    assert (header.seq, header.status, header.program) == (3, "paused", "m:f")
    assert header.events == (("approve",) if isinstance(wait, EventWait) else ())
    expected_wake = {
        "event": getattr(wait, "deadline", None),
        "timer": getattr(wait, "wake_at", None),
        "retry": getattr(wait, "next_attempt_at", None),
        "children": None,
    }[wait.kind]
    assert header.wake_at == expected_wake
    assert header.children == getattr(wait, "ids", ())
    assert InstanceHeader.from_json(header.to_json()) == header


def test_a_finished_instance_has_no_wait_in_its_header() -> None:
    snap = read_snapshot("i-1", snapshot_dict(status="completed", wait=None))
    header = header_of(snap)
    assert (header.status, header.events, header.wake_at) == ("completed", (), None)


def test_readiness_from_the_header_alone() -> None:
    now = T0 + timedelta(days=1)
    event = InstanceHeader(3, "paused", "m:f", T0, T0, events=("approve",))
    assert is_ready(event, now, {"approve"})
    assert not is_ready(event, now, {"reject"})
    deadline = InstanceHeader(3, "paused", "m:f", T0, T0, events=("a",), wake_at=now)
    assert is_ready(deadline, now, ())
    assert not is_ready(deadline, now - timedelta(seconds=1), ())
    kids = InstanceHeader(3, "paused", "m:f", T0, T0, children=("c1", "c2"))
    assert not is_ready(kids, now, (), {"c1"})
    assert is_ready(kids, now, (), {"c1", "c2"})
    first = InstanceHeader(3, "paused", "m:f", T0, T0, children=("c1", "c2"), children_mode="first")
    assert is_ready(first, now, (), {"c2"})
    running = InstanceHeader(3, "running", "m:f", T0, T0, events=("approve",))
    assert not is_ready(running, now, {"approve"})


def test_a_corrupt_header_is_an_error_not_a_guess() -> None:
    for raw in (b"[]", b"{}", b'{"seq": "3"}', b"not json"):
        with pytest.raises(ValueError):
            InstanceHeader.from_json(raw)


def test_format_1_is_upgraded_to_a_wait_value() -> None:
    v1 = snapshot_dict(format_version=1, waiting_for="approve")
    snap = read_snapshot("i-1", v1)
    assert snap.format_version == FORMAT_VERSION
    assert snap.wait == EventWait(name="approve")
    done = read_snapshot("i-1", snapshot_dict(format_version=1, status="running", waiting_for=None))
    assert done.wait is None


def test_the_reader_names_the_instance_for_every_problem() -> None:
    cases: list[Any] = [b"{", b"[1]", b"[" * 5000, snapshot_dict(seq="x"), snapshot_dict()]
    cases[-1]["instance_id"] = "someone-else"
    for data in cases:
        with pytest.raises(SnapshotValidationError, match="instance 'i-1'"):
            read_snapshot("i-1", data)
    with pytest.raises(IncompatibleSnapshotError, match="format 99"):
        read_snapshot("i-1", snapshot_dict(format_version=99))


def test_snapshot_model_names_the_wait_field() -> None:
    assert "wait" in Snapshot.model_fields and "waiting_for" not in Snapshot.model_fields
