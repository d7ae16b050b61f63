"""A store in dicts, for tests and runs that need not outlive the process."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Sequence
from datetime import datetime

from .._model import InstanceHeader
from ._contract import (
    DEFAULT_KEEP_CHECKPOINTS,
    InboxEvent,
    StateStore,
    StoredInstance,
    _as_bytes,
    _check_event_id,
    _check_history_entry,
    _check_id,
    _event_name,
    _legacy_seq,
    check_keep,
    ready_among,
)

__all__ = ["InMemoryStateStore"]


class InMemoryStateStore(StateStore):
    """A store in dicts: for tests and for runs that need not survive the process.

    It keeps bytes and headers, never live objects, so it behaves like a real store: what
    `read` returns is only what was serialised. Every operation holds one short lock, so a
    commit (compare-and-set, consumption, audit entries) is atomic.
    """

    blocking = False  # pure Python under a short lock; never blocks the event loop

    def __init__(self, *, keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS) -> None:
        """``keep_checkpoints``: superseded checkpoints kept per instance (0: none)."""
        self.keep_checkpoints = check_keep(keep_checkpoints)
        self._lock = threading.Lock()  # guards the dicts below
        self._snapshots: dict[str, bytes] = {}
        self._headers: dict[str, InstanceHeader] = {}
        self._inboxes: dict[str, dict[str, InboxEvent]] = {}
        self._histories: dict[str, list[bytes]] = {}
        self._past: dict[str, deque[tuple[InstanceHeader, bytes]]] = {}

    # -- the four operations ---------------------------------------------------------------

    def read(self, instance_id: str) -> StoredInstance:
        instance_id = _check_id(instance_id)
        with self._lock:
            inbox = self._inboxes.get(instance_id)
            return StoredInstance(
                self._headers.get(instance_id),
                self._snapshots.get(instance_id),
                tuple(inbox[k] for k in sorted(inbox)) if inbox else (),
            )

    def try_read(self, instance_id: str) -> StoredInstance:
        return self.read(instance_id)

    def commit(
        self,
        instance_id: str,
        expected_seq: int,
        header: InstanceHeader,
        data: bytes,
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
        *,
        owner: str | None = None,
    ) -> bool:
        instance_id = _check_id(instance_id)
        snapshot = _as_bytes(data, "snapshot")
        entries = [_check_history_entry(entry) for entry in history]
        consumed = [_check_event_id(e) for e in consumed]
        leases = self._lease_table()
        with self._lock, leases.lock:
            if not leases.allows(instance_id, owner) or self._seq(instance_id) != expected_seq:
                return False
            self._retain(instance_id)
            self._snapshots[instance_id] = snapshot
            self._headers[instance_id] = header
            leases.settle(instance_id, owner, header)
            inbox = self._inboxes.get(instance_id, {})
            for event_id in consumed:
                inbox.pop(event_id, None)
            if entries:
                self._histories.setdefault(instance_id, []).extend(entries)
            return True

    def _retain(self, instance_id: str) -> None:
        """Keep the checkpoint a commit is about to supersede (the caller holds `_lock`)."""
        header = self._headers.get(instance_id)
        if header is None or self.keep_checkpoints == 0:
            return
        past = self._past.get(instance_id)
        if past is None or past.maxlen != self.keep_checkpoints:
            past = deque(past or (), maxlen=self.keep_checkpoints)
            self._past[instance_id] = past
        past.append((header, self._snapshots[instance_id]))

    def checkpoints(self, instance_id: str) -> list[tuple[InstanceHeader, bytes]]:
        instance_id = _check_id(instance_id)
        with self._lock:
            return list(self._past.get(instance_id, ()))

    def _seq(self, instance_id: str) -> int:
        header = self._headers.get(instance_id)
        if header is not None:
            return header.seq
        return _legacy_seq(self._snapshots.get(instance_id))  # saved through `save`

    def publish(
        self,
        instance_id: str,
        event_id: str,
        name: str,
        data: bytes,
        history: Sequence[bytes] = (),
    ) -> None:
        instance_id = _check_id(instance_id)
        event = InboxEvent(_check_event_id(event_id), name, _as_bytes(data, "event data"))
        entries = [_check_history_entry(entry) for entry in history]
        with self._lock:
            self._inboxes.setdefault(instance_id, {})[event.id] = event
            if entries:
                self._histories.setdefault(instance_id, []).extend(entries)

    def ready(self, now: datetime, limit: int = 100) -> list[str]:
        with self._lock:
            headers = dict(self._headers)
            names = {i: {e.name for e in inbox.values()} for i, inbox in self._inboxes.items()}
        return ready_among(headers, now, limit, lambda i: names.get(i, ()), headers.get)

    def read_header(self, instance_id: str) -> InstanceHeader | None:
        with self._lock:
            return self._headers.get(_check_id(instance_id))

    # -- the seed contract and the rest ------------------------------------------------------

    def load(self, instance_id: str) -> bytes | None:
        instance_id = _check_id(instance_id)
        with self._lock:
            return self._snapshots.get(instance_id)

    def save(self, instance_id: str, data: bytes) -> None:
        """Replace the snapshot alone (the seed contract); its header is dropped."""
        instance_id = _check_id(instance_id)
        copy = _as_bytes(data, "snapshot")
        with self._lock:
            self._snapshots[instance_id] = copy
            self._headers.pop(instance_id, None)

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        self.publish(instance_id, event_id, _event_name(instance_id, event_id, data), data)

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        return [(e.id, e.data) for e in self.read(instance_id).inbox]

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        instance_id = _check_id(instance_id)
        with self._lock:
            inbox = self._inboxes.get(instance_id, {})
            for event_id in event_ids:
                inbox.pop(event_id, None)

    def append_history(self, instance_id: str, entry: bytes) -> None:
        self.append_history_many(instance_id, [entry])

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        instance_id = _check_id(instance_id)
        copies = [_check_history_entry(entry) for entry in entries]
        with self._lock:
            self._histories.setdefault(instance_id, []).extend(copies)

    def read_history(self, instance_id: str) -> list[bytes]:
        instance_id = _check_id(instance_id)
        with self._lock:
            return list(self._histories.get(instance_id, ()))

    def delete(self, instance_id: str) -> bool:
        """Everything kept for ``instance_id`` goes in one step under the lock."""
        instance_id = _check_id(instance_id)
        leases = self._lease_table()
        with self._lock, leases.lock:
            found = [
                kept.pop(instance_id, None) is not None
                for kept in (
                    self._snapshots,
                    self._headers,
                    self._inboxes,
                    self._histories,
                    self._past,
                )
            ]
            return leases.drop(instance_id) or any(found)

    def list_instances(self) -> list[str]:
        with self._lock:
            return sorted(self._snapshots)
