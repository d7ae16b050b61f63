"""The seed contracts still carry the whole seed example: a backend of only the three seed
methods, and a store of only ``load``/``save``; and the backend's clock stamps everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable import (
    DurableBackend,
    OrchestrationBackend,
    PauseForEventException,
    StateStore,
    make_durable,
)

SAID: list[str] = []


async def _greet(name: str) -> str:
    SAID.append("waiting for permission to greet")
    raise PauseForEventException("allow")
    return f"hello {name}"


greet = make_durable(_greet)


@pytest.fixture(autouse=True)
def _clear() -> None:
    SAID.clear()


class SeedBackend(OrchestrationBackend):
    """Exactly the three abstract methods of the seed, state kept as JSON text."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.waits: list[tuple[str, str]] = []

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        text = self.states.get(instance_id)
        return None if text is None else json.loads(text)

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        self.states[instance_id] = json.dumps(state)

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        self.waits.append((instance_id, event_name))


class LoadSaveStore(StateStore):
    """A store written against the seed contract: only ``load`` and ``save``."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def load(self, instance_id: str) -> bytes | None:
        return self.data.get(instance_id)

    def save(self, instance_id: str, data: bytes) -> None:
        self.data[instance_id] = bytes(data)


async def test_a_backend_of_the_three_seed_methods_runs_the_seed_example() -> None:
    backend = SeedBackend()
    with pytest.raises(PauseForEventException) as info:
        await greet("Ada", orchestration_backend=backend, instance_id="greet-1")
    assert info.value.event == "allow" and info.value.instance_id == "greet-1"
    assert backend.waits == [("greet-1", "allow")]
    assert json.loads(backend.states["greet-1"])["wait"] == {
        "kind": "event",
        "name": "allow",
        "deadline": None,
    }
    # Without an inbox, calling again is the delivery.
    assert await greet("Ada", orchestration_backend=backend, instance_id="greet-1") == "hello Ada"
    assert await greet("Ada", orchestration_backend=backend, instance_id="greet-1") == "hello Ada"
    assert SAID == ["waiting for permission to greet"]


async def test_a_store_of_load_and_save_only_runs_the_seed_example() -> None:
    store = LoadSaveStore()
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await greet("Ada", orchestration_backend=backend, instance_id="greet-1")
    with pytest.raises(PauseForEventException):  # not published yet: still waiting
        await greet("Ada", orchestration_backend=backend, instance_id="greet-1")
    backend.publish_event("greet-1", "allow")
    assert await greet("Ada", orchestration_backend=backend, instance_id="greet-1") == "hello Ada"
    assert SAID == ["waiting for permission to greet"]
    assert store.read("greet-1").inbox == ()  # consumed
    header = store.read_header("greet-1")
    assert header is not None and (header.status, header.seq) == ("completed", 3)


async def test_a_store_of_load_and_save_only_takes_an_event_published_early() -> None:
    store = LoadSaveStore()
    backend = DurableBackend(store)
    backend.publish_event("greet-2", "allow")
    assert await greet("Bo", orchestration_backend=backend, instance_id="greet-2") == "hello Bo"
    kinds = [e["kind"] for e in backend.read_history("greet-2")]
    assert "instance.paused" not in kinds  # resolved at once: never saved as a pause


class StoppedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_every_timestamp_comes_from_the_backends_clock(store: StateStore) -> None:
    clock = StoppedClock(datetime(2030, 5, 1, 12, tzinfo=UTC))
    backend = DurableBackend(store, clock=clock)
    with pytest.raises(PauseForEventException):
        await greet("Cy", orchestration_backend=backend, instance_id="greet-3")
    clock.at += timedelta(days=3)
    backend.publish_event("greet-3", "allow")
    assert await greet("Cy", orchestration_backend=backend, instance_id="greet-3") == "hello Cy"
    state = await backend.load_state("greet-3")
    assert state is not None
    assert state["created_at"] == "2030-05-01T12:00:00Z"
    assert state["updated_at"] == "2030-05-04T12:00:00Z"
    stamps = {entry["at"][:10] for entry in backend.read_history("greet-3")}
    assert stamps == {"2030-05-01", "2030-05-04"}
    header = store.read_header("greet-3")
    assert header is not None and header.updated_at == clock.at
