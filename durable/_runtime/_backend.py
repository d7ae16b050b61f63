"""Orchestration backends: where the runtime loads and saves state and finds events.

`OrchestrationBackend` is the seed contract: three abstract async methods. A user's backend
that implements only those works for everything that needs no more; without an event inbox,
an event counts as delivered when the instance is called again (`take_event`'s default).

`DurableBackend` adds a real inbox over a `StateStore`: `publish_event` writes the event to the
store before it returns, apart from the snapshot, so a publisher never races with a checkpoint.
Consumption is two-phase: the runtime names the consumed event ids in the next snapshot it
saves, and `StateStore.commit` deletes them with that save (`DiskStateStore` in the same
record; other stores right after it). A crash in between leaves the ids in the snapshot,
which hides them from later waits; the next load deletes them.

A resume is one trip to the store (`load_and_take`) and so is a pause (`commit_pause`): the
hand-off to a worker thread costs about as much as the file work itself.
"""

from __future__ import annotations

import abc
import functools
import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio.to_thread

from .._tracing import emit
from ..errors import ConcurrentResumeError, InvalidInstanceIdError, SnapshotValidationError
from ..stores import InMemoryStateStore, StateStore, new_event_id

__all__ = ["DurableBackend", "OrchestrationBackend"]

T = TypeVar("T")


class OrchestrationBackend(abc.ABC):
    """Where a `DurableRuntime` keeps the state of instances.

    Subclass it and implement the three abstract methods; override the optional capabilities
    below for richer behaviour.
    """

    @abc.abstractmethod
    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        """Return the last state saved for `instance_id`, or None if there is none."""

    @abc.abstractmethod
    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        """Durably replace the state of `instance_id` (a JSON-compatible dict)."""

    @abc.abstractmethod
    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        """Called after `instance_id` saved a pause waiting for `event_name`."""

    async def commit(
        self, instance_id: str, state: dict[str, Any], history: list[dict[str, Any]]
    ) -> None:
        """Save `state` and append `history` (audit entries) to the instance's history.

        Optional capability: the default saves the state and drops the history.
        """
        await self.save_state(instance_id, state)

    async def take_event(
        self,
        instance_id: str,
        event_name: str,
        *,
        resuming: bool,
        exclude: Collection[str] = (),
    ) -> str | None:
        """Consume a published `event_name` for `instance_id`; return its id, or None.

        Optional capability. `resuming` is True when a paused instance is called again. The
        default has no inbox: it treats that call itself as the delivery. Taking is only a
        look: the event is consumed when the next saved state names its id.
        """
        return event_name if resuming else None

    async def load_and_take(self, instance_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """The saved state and, if it waits for an event, that event's id (see `take_event`).

        Optional capability: the default calls `load_state`, then `take_event` with
        ``resuming=True``; a backend may do both in one trip to its storage.
        """
        state = await self.load_state(instance_id)
        waiting = _waiting_for(state)
        if state is None or waiting is None:
            return state, None
        exclude = _consumed(state)
        return state, await self.take_event(instance_id, waiting, resuming=True, exclude=exclude)

    async def commit_pause(
        self,
        instance_id: str,
        state: dict[str, Any],
        history: list[dict[str, Any]],
        event_name: str,
        exclude: Collection[str],
    ) -> str | None:
        """Save the paused `state` unless `event_name` is already published.

        Returns the id of the published event (then nothing is saved: the run consumes it and
        goes on), or None once `state` and `history` are committed. Optional capability: the
        default calls `take_event` with ``resuming=False``, then `commit`.
        """
        taken = await self.take_event(instance_id, event_name, resuming=False, exclude=exclude)
        if taken is None:
            await self.commit(instance_id, state, history)
        return taken


class DurableBackend(OrchestrationBackend):
    """An `OrchestrationBackend` over a `StateStore`, with a durable event inbox."""

    def __init__(self, store: StateStore | None = None) -> None:
        self.store = store if store is not None else InMemoryStateStore()

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        if self.store.blocking:
            return await anyio.to_thread.run_sync(fn, *args)
        return fn(*args)

    async def _load(
        self, instance_id: str
    ) -> tuple[dict[str, Any] | None, list[tuple[str, bytes]]]:
        """The state and the inbox less the events it names as consumed (see `load_state`).

        Without a thread trip when the store can answer without blocking and nothing is left
        to delete.
        """
        if self.store.blocking:
            quick = self.store.try_load_with_events(instance_id)
            if quick is not None:
                state = _parse_state(instance_id, quick[0])
                if not _leftovers(state, quick[1]):
                    return state, quick[1]
        data, inbox = await self._io(_load_and_clean, self.store, instance_id)
        return _parse_state(instance_id, data), inbox

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        """The saved state; also finishes deleting the events it names as consumed.

        A crash between a save and its inbox cleanup leaves consumed events behind; deleting
        them here (idempotent) means a snapshot never has to carry old ids forward.
        """
        state, _ = await self._load(instance_id)
        return state

    async def load_and_take(self, instance_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """`load_state` and `take_event` in one trip to the store's thread."""
        state, inbox = await self._load(instance_id)
        waiting = _waiting_for(state)
        if state is None or waiting is None:
            return state, None
        return state, _first_named(instance_id, inbox, waiting, _consumed(state))

    async def commit_pause(
        self,
        instance_id: str,
        state: dict[str, Any],
        history: list[dict[str, Any]],
        event_name: str,
        exclude: Collection[str],
    ) -> str | None:
        """`take_event` and, if nothing was published, `commit`: one trip to the store's thread.

        The inbox is looked at on the event loop when the store can do that without blocking
        (then the thread only saves); an event published after that look waits for the next
        call, as one published just after the save would.
        """
        data, entries = _encode_commit(state, history)
        quick = self.store.try_load_with_events(instance_id) if self.store.blocking else None
        job: Callable[..., str | bool]
        if quick is not None:
            taken = _first_named(instance_id, quick[1], event_name, exclude)
            if taken is not None:
                return taken
            known = quick[0] if _follows(state.get("seq", 1) - 1, quick[0]) else None
            job = functools.partial(_commit, self.store, instance_id, known=known)
        else:
            job = functools.partial(
                _commit_unless_published, self.store, instance_id, event_name, exclude
            )
        outcome = await self._io(job, data, state, entries)
        if isinstance(outcome, str):
            return outcome
        self._committed(instance_id, state, outcome)
        return None

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        await self.commit(instance_id, state, [])

    async def commit(
        self, instance_id: str, state: dict[str, Any], history: list[dict[str, Any]]
    ) -> None:
        """Save `state` if the store still holds the snapshot it follows (seq - 1).

        In one trip to the store's thread: the compare-and-set save, then deleting the events
        the state names as consumed, then appending `history`. Raises
        `ConcurrentResumeError` when another run saved the instance first; then nothing is
        written and the events this run consumed stay in the inbox.
        """
        data, entries = _encode_commit(state, history)
        job = functools.partial(_commit, self.store, instance_id, data, state, entries)
        self._committed(instance_id, state, await self._io(job))

    @staticmethod
    def _committed(instance_id: str, state: dict[str, Any], saved: bool) -> None:
        if not saved:
            previous = state.get("seq", 1) - 1
            raise ConcurrentResumeError(
                f"instance {instance_id!r}: another run saved it since this run loaded "
                f"checkpoint {previous}; this run stopped without saving. Call the instance "
                "again to continue from its newest checkpoint"
            )

    def read_history(self, instance_id: str) -> list[dict[str, Any]]:
        """The audit history of `instance_id`, oldest first (see ``durable.EVENTS``)."""
        return [json.loads(entry) for entry in self.store.read_history(instance_id)]

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        """Nothing to do: the saved snapshot records the wait."""

    async def take_event(
        self,
        instance_id: str,
        event_name: str,
        *,
        resuming: bool,
        exclude: Collection[str] = (),
    ) -> str | None:
        inbox = await self._io(self.store.list_events, instance_id)
        return _first_named(instance_id, inbox, event_name, exclude)

    def publish_event(self, instance_id: str, event_name: str) -> None:
        """Store `event_name` in the inbox of `instance_id`; durable once this returns.

        Synchronous (as in the seed API): with a `DiskStateStore` it writes and fsyncs a file.
        An event published before the instance reaches its pause is kept until it does.
        """
        if not isinstance(instance_id, str):
            raise InvalidInstanceIdError(
                f"instance ids are strings, not {type(instance_id).__name__}: {instance_id!r}"
            )
        if not isinstance(event_name, str):
            raise TypeError(f"event names are strings, not {type(event_name).__name__}")
        at = datetime.now(UTC).isoformat()
        record = {"name": event_name, "published_at": at}
        data = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
        event_id = new_event_id()
        entry = {"at": at, "kind": "event.published", "event_name": event_name}
        audit = _json_line({**entry, "event_id": event_id})
        self.store.publish(instance_id, event_id, data, [audit])
        emit("event.published", instance_id=instance_id, event_name=event_name, event_id=event_id)


def _load_and_clean(
    store: StateStore, instance_id: str
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The snapshot and the inbox, less the events the snapshot names as consumed.

    Those are deleted too: normally the checkpoint that consumed them already did.
    """
    data, inbox = store.load_with_events(instance_id)
    try:
        state = json.loads(data) if data is not None and inbox else None
    except ValueError:
        state = None  # corrupt: the caller's parse reports it
    leftover = _leftovers(state, inbox)
    if leftover:
        store.delete_events(instance_id, leftover)
        inbox = [(event_id, event) for event_id, event in inbox if event_id not in leftover]
    return data, inbox


def _leftovers(state: Any, inbox: list[tuple[str, bytes]]) -> list[str]:
    """Events still in `inbox` that the saved `state` names as consumed."""
    if not isinstance(state, dict) or not inbox:
        return []
    consumed = _consumed(state)
    return [event_id for event_id, _ in inbox if event_id in consumed]


def _parse_state(instance_id: str, data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        state = json.loads(data)
    except ValueError as e:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is not valid JSON ({e}); it was "
            "left as it is: restore it from a backup or delete the instance"
        ) from None
    if not isinstance(state, dict):
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is not a JSON object"
        )
    return state


def _waiting_for(state: dict[str, Any] | None) -> str | None:
    """The event a saved paused state waits for (None if it waits for none or is odd)."""
    if state is None or state.get("status") != "paused":
        return None
    waiting = state.get("waiting_for")
    return waiting if isinstance(waiting, str) else None


def _consumed(state: dict[str, Any]) -> set[str]:
    consumed = state.get("consumed_events")
    return {e for e in consumed if isinstance(e, str)} if isinstance(consumed, list) else set()


def _first_named(
    instance_id: str, inbox: list[tuple[str, bytes]], event_name: str, exclude: Collection[str]
) -> str | None:
    """The id of the oldest event in `inbox` called `event_name`, not in `exclude`."""
    for event_id, data in inbox:
        if event_id not in exclude and _event_name(instance_id, event_id, data) == event_name:
            return event_id
    return None


def _encode_commit(state: dict[str, Any], history: list[dict[str, Any]]) -> tuple[str, list[bytes]]:
    data = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return data, [_json_line(entry) for entry in history]


def _commit_unless_published(
    store: StateStore,
    instance_id: str,
    event_name: str,
    exclude: Collection[str],
    data: str,
    state: dict[str, Any],
    history: list[bytes],
) -> str | bool:
    """The id of a published `event_name`, else whether `_commit` saved."""
    taken = _first_named(instance_id, store.list_events(instance_id), event_name, exclude)
    return taken if taken is not None else _commit(store, instance_id, data, state, history)


def _commit(
    store: StateStore,
    instance_id: str,
    data: str,
    state: dict[str, Any],
    history: list[bytes],
    known: bytes | None = None,
) -> bool:
    """Save if the stored snapshot is the one this state follows; `known` is a snapshot
    already found to be it (the very object, so the check in the thread is an identity)."""
    previous = state.get("seq", 1) - 1
    raw = data.encode("utf-8", "surrogatepass")
    consumed = list(state.get("consumed_events") or ())

    def expected(current: bytes | None) -> bool:
        return (known is not None and current is known) or _follows(previous, current)

    return store.commit(instance_id, raw, expected, consumed, history)


def _json_line(entry: dict[str, Any]) -> bytes:
    text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.encode("utf-8", "surrogatepass")


def _follows(previous: int, current: bytes | None) -> bool:
    """Whether the stored snapshot `current` is checkpoint number `previous`."""
    if current is None:
        return previous == 0
    try:
        return bool(json.loads(current).get("seq") == previous)
    except (ValueError, AttributeError):
        return False  # a corrupt snapshot is never overwritten silently


def _event_name(instance_id: str, event_id: str, data: bytes) -> str:
    try:
        name = json.loads(data)["name"]
    except (ValueError, KeyError, TypeError):
        name = None
    if not isinstance(name, str):
        raise SnapshotValidationError(
            f"instance {instance_id!r}: event {event_id!r} in the inbox is corrupt"
        )
    return name
