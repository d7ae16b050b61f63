"""A user backend with an inbox of its own: the optional capabilities and their defaults.

`InboxBackend` overrides `inbox` and `commit` but not `load_instance` or `commit_wait`, so
every pause and resume goes through those defaults. It keeps state as JSON text, like a
real store, and records each call so the tests can check what the runtime asked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from durable import OrchestrationBackend, PauseForEventException, make_durable
from durable._model import InstanceHeader
from durable.stores import InboxEvent

EFFECTS: list[str] = []


class InboxBackend(OrchestrationBackend):
    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.events: dict[str, list[tuple[str, str]]] = {}  # instance -> [(event id, name)]
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, Any]] = []
        self._next = 0

    def publish(self, instance_id: str, name: str) -> str:
        self._next += 1
        event_id = f"ev{self._next}"
        self.events.setdefault(instance_id, []).append((event_id, name))
        return event_id

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        text = self.states.get(instance_id)
        return None if text is None else json.loads(text)

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        raise AssertionError("the runtime saves through commit when a backend overrides it")

    async def commit(
        self,
        instance_id: str,
        state: dict[str, Any],
        header: InstanceHeader,
        history: list[dict[str, Any]],
    ) -> None:
        assert header.seq == state["seq"] and header.status == state["status"]
        self.calls.append(("commit", state["status"]))
        self.states[instance_id] = json.dumps(state)
        consumed = set(state["consumed_events"])
        kept = [e for e in self.events.get(instance_id, []) if e[0] not in consumed]
        self.events[instance_id] = kept
        self.history.setdefault(instance_id, []).extend(history)

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        self.calls.append(("wait", event_name))

    async def inbox(self, instance_id: str) -> Sequence[InboxEvent]:
        self.calls.append(("inbox", instance_id))
        return [InboxEvent(i, name, b"{}") for i, name in self.events.get(instance_id, [])]


async def _approve_twice(n: int) -> int:
    EFFECTS.append("start")
    raise PauseForEventException("approve")
    EFFECTS.append("first approval")
    raise PauseForEventException("approve")
    EFFECTS.append("second approval")
    return n * 2


approve_twice = make_durable(_approve_twice)


@pytest.fixture(autouse=True)
def _clear() -> None:
    EFFECTS.clear()


async def test_an_event_published_after_the_pause_is_taken_on_resume() -> None:
    """The default `load_instance` reads the inbox with the state; the default `commit_wait`
    reads it before saving the pause, and saves only if the event is not there."""
    backend = InboxBackend()
    with pytest.raises(PauseForEventException):
        await approve_twice(4, orchestration_backend=backend, instance_id="a")
    assert backend.calls[-3:] == [("inbox", "a"), ("commit", "paused"), ("wait", "approve")]
    with pytest.raises(PauseForEventException):  # nothing published: still waiting
        await approve_twice(4, orchestration_backend=backend, instance_id="a")
    assert EFFECTS == ["start"]
    backend.publish("a", "approve")
    with pytest.raises(PauseForEventException):
        await approve_twice(4, orchestration_backend=backend, instance_id="a")
    assert EFFECTS == ["start", "first approval"]
    assert backend.events["a"] == []  # consumed by the pause's commit
    backend.publish("a", "approve")
    assert await approve_twice(4, orchestration_backend=backend, instance_id="a") == 8
    assert EFFECTS == ["start", "first approval", "second approval"]


async def test_events_published_early_are_consumed_one_per_pause() -> None:
    """Two events published before the start: each pause takes one (never the same twice) and
    the instance runs to the end in one call, saving no pause."""
    backend = InboxBackend()
    first, second = backend.publish("b", "approve"), backend.publish("b", "approve")
    assert await approve_twice(5, orchestration_backend=backend, instance_id="b") == 10
    assert ("commit", "paused") not in backend.calls
    assert backend.events["b"] == []
    consumed = [h["event_id"] for h in backend.history["b"] if h["kind"] == "event.consumed"]
    assert consumed == [first, second]
    kinds = [h["kind"] for h in backend.history["b"]]
    assert "instance.paused" not in kinds and kinds[-1] == "instance.completed"


async def test_another_instances_events_are_not_taken() -> None:
    backend = InboxBackend()
    backend.publish("other", "approve")
    with pytest.raises(PauseForEventException):
        await approve_twice(1, orchestration_backend=backend, instance_id="c")
    assert backend.events["other"] != []
    assert json.loads(backend.states["c"])["status"] == "paused"
