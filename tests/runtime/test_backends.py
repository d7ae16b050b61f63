"""A user backend with an inbox of its own: the optional capabilities and their defaults.

`InboxBackend` overrides `take_event` and `commit` but not `load_and_take` or `commit_pause`,
so every pause and resume goes through those defaults. It keeps state as JSON text, like a
real store, and records each call so the tests can check what the runtime asked.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import pytest

from durable import OrchestrationBackend, PauseForEventException, make_durable

EFFECTS: list[str] = []


class InboxBackend(OrchestrationBackend):
    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.inbox: dict[str, list[tuple[str, str]]] = {}  # instance -> [(event id, name)]
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, Any]] = []
        self._next = 0

    def publish(self, instance_id: str, name: str) -> str:
        self._next += 1
        event_id = f"ev{self._next}"
        self.inbox.setdefault(instance_id, []).append((event_id, name))
        return event_id

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        text = self.states.get(instance_id)
        return None if text is None else json.loads(text)

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        await self.commit(instance_id, state, [])

    async def commit(
        self, instance_id: str, state: dict[str, Any], history: list[dict[str, Any]]
    ) -> None:
        self.calls.append(("commit", state["status"]))
        self.states[instance_id] = json.dumps(state)
        consumed = set(state["consumed_events"])
        kept = [e for e in self.inbox.get(instance_id, []) if e[0] not in consumed]
        self.inbox[instance_id] = kept
        self.history.setdefault(instance_id, []).extend(history)

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        self.calls.append(("wait", event_name))

    async def take_event(
        self,
        instance_id: str,
        event_name: str,
        *,
        resuming: bool,
        exclude: Collection[str] = (),
    ) -> str | None:
        self.calls.append(("take", (event_name, resuming)))
        for event_id, name in self.inbox.get(instance_id, []):
            if name == event_name and event_id not in exclude:
                return event_id
        return None


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
    """The default `load_and_take` asks `take_event(resuming=True)`; the default
    `commit_pause` asks `take_event(resuming=False)` before saving the pause."""
    backend = InboxBackend()
    with pytest.raises(PauseForEventException):
        await approve_twice(4, orchestration_backend=backend, instance_id="a")
    assert backend.calls[-3:] == [
        ("take", ("approve", False)),
        ("commit", "paused"),
        ("wait", "approve"),
    ]
    with pytest.raises(PauseForEventException):  # nothing published: still waiting
        await approve_twice(4, orchestration_backend=backend, instance_id="a")
    assert EFFECTS == ["start"]
    backend.publish("a", "approve")
    with pytest.raises(PauseForEventException):
        await approve_twice(4, orchestration_backend=backend, instance_id="a")
    assert EFFECTS == ["start", "first approval"]
    assert backend.inbox["a"] == []  # consumed by the pause's commit
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
    assert backend.inbox["b"] == []
    consumed = [h["event_id"] for h in backend.history["b"] if h["kind"] == "event.consumed"]
    assert consumed == [first, second]
    kinds = [h["kind"] for h in backend.history["b"]]
    assert "instance.paused" not in kinds and kinds[-1] == "instance.completed"


async def test_another_instances_events_are_not_taken() -> None:
    backend = InboxBackend()
    backend.publish("other", "approve")
    with pytest.raises(PauseForEventException):
        await approve_twice(1, orchestration_backend=backend, instance_id="c")
    assert backend.inbox["other"] != []
    assert json.loads(backend.states["c"])["status"] == "paused"
