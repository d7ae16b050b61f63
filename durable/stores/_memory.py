"""A store in dicts, for tests and runs that need not outlive the process."""

from __future__ import annotations

import threading
from collections.abc import Collection

from ._contract import (
    StateStore,
    _as_bytes,
    _check_event_id,
    _check_history_entry,
    _check_id,
)

__all__ = ["InMemoryStateStore"]


# ------------------------------------------------------------------------------------------
# In memory
# ------------------------------------------------------------------------------------------


class InMemoryStateStore(StateStore):
    """A store in dicts: for tests and for runs that need not survive the process.

    It keeps bytes, never live objects, so it behaves like a real store: `save` and
    `add_event` store a copy, and what `load` returns is only what was serialised.
    """

    blocking = False  # pure Python under a short lock; never blocks the event loop

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the three dicts below
        self._snapshots: dict[str, bytes] = {}
        self._inboxes: dict[str, dict[str, bytes]] = {}
        self._histories: dict[str, list[bytes]] = {}

    def load(self, instance_id: str) -> bytes | None:
        instance_id = _check_id(instance_id)
        with self._lock:
            return self._snapshots.get(instance_id)

    def save(self, instance_id: str, data: bytes) -> None:
        instance_id = _check_id(instance_id)
        copy = _as_bytes(data, "snapshot")
        with self._lock:
            self._snapshots[instance_id] = copy

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        instance_id = _check_id(instance_id)
        event_id = _check_event_id(event_id)
        copy = _as_bytes(data, "event data")
        with self._lock:
            self._inboxes.setdefault(instance_id, {})[event_id] = copy

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        instance_id = _check_id(instance_id)
        with self._lock:
            return sorted(self._inboxes.get(instance_id, {}).items())

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        instance_id = _check_id(instance_id)
        with self._lock:
            inbox = self._inboxes.get(instance_id, {})
            for event_id in event_ids:
                inbox.pop(event_id, None)

    def append_history(self, instance_id: str, entry: bytes) -> None:
        instance_id = _check_id(instance_id)
        copy = _check_history_entry(entry)
        with self._lock:
            self._histories.setdefault(instance_id, []).append(copy)

    def read_history(self, instance_id: str) -> list[bytes]:
        instance_id = _check_id(instance_id)
        with self._lock:
            return list(self._histories.get(instance_id, ()))

    def list_instances(self) -> list[str]:
        with self._lock:
            return sorted(self._snapshots)
