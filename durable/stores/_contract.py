"""State stores: where snapshots, event inboxes and audit histories live.

Contract
========

A `StateStore` maps an *instance id* (any ``str``) to three independent things:

* **the snapshot**: one opaque ``bytes`` value (serialised JSON written by the runtime).
  `StateStore.save` replaces it atomically; `StateStore.load` returns it, or ``None``.
* **the event inbox**: a set of ``(event_id, bytes)`` pairs. Publishers add events, the
  runtime lists them (sorted by event id) and deletes the ones it consumed. Adding an event id
  that already exists replaces it; deleting a missing one is not an error.
* **the audit history**: an append-only list of ``bytes`` entries (JSON, one line each),
  read only by tools. A resume never reads it.

At a checkpoint the runtime calls `StateStore.commit` (a compare-and-set save plus deleting
the events it consumed); to resume, `StateStore.load_with_events`. Both have defaults built
on the other methods; a store can do each in one step, as `DiskStateStore` does.

Methods are synchronous and may block. The runtime calls them through
``anyio.to_thread.run_sync`` when the class attribute ``blocking`` is true and directly on the
event loop otherwise.

Every ``str`` is a valid instance id: ``""``, ``"../x"``, ``"/abs"``, ``"a\\x00b"``, ``"CON"``,
very long strings, strings holding lone surrogates, ids differing only by case. Distinct ids
never share storage. Anything that is not a ``str`` raises `InvalidInstanceIdError`.
"""

from __future__ import annotations

import abc
import base64
import json
import reprlib
import secrets
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import ClassVar

try:
    import fcntl
except ImportError:  # Windows: save_if is then atomic within one process only
    fcntl = None  # type: ignore[assignment]

from ..errors import InvalidInstanceIdError, StoreError

__all__ = ["StateStore", "new_event_id"]

# ------------------------------------------------------------------------------------------
# Shared helpers
# ------------------------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 80
_short_repr = _repr.repr  # ids can be 10 000 characters long: keep messages readable


def _check_id(instance_id: object) -> str:
    """Return ``instance_id`` if it is a ``str``; raise `InvalidInstanceIdError` otherwise."""
    if not isinstance(instance_id, str):
        raise InvalidInstanceIdError(
            f"instance id must be a str, got {_short_repr(instance_id)} "
            f"of type {type(instance_id).__qualname__}"
        )
    return instance_id


def _check_event_id(event_id: object) -> str:
    if not isinstance(event_id, str):
        raise TypeError(
            f"event id must be a str, got {_short_repr(event_id)} "
            f"of type {type(event_id).__qualname__}"
        )
    return event_id


def _as_bytes(data: object, what: str) -> bytes:
    """An immutable copy of bytes-like ``data`` (``bytes(5)`` would silently be 5 zeros)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, got {type(data).__qualname__}")
    return bytes(data)


def _check_history_entry(entry: object) -> bytes:
    """History entries are single lines: JSON without raw newlines."""
    data = _as_bytes(entry, "history entry")
    if b"\n" in data:
        raise ValueError("history entry must not contain a newline (use compact JSON)")
    return data


_event_id_lock = threading.Lock()
_last_event_ns = 0  # guarded by _event_id_lock; the largest timestamp handed out so far


def new_event_id() -> str:
    """A unique event id; within a process, ids sort (as strings) in the order made.

    Format ``<20-digit nanoseconds>-<12 hex digits>``. The timestamp is forced to grow by at
    least 1 ns per call so a clock that stands still or steps back keeps the order; the random
    suffix keeps ids from different processes apart.
    """
    global _last_event_ns
    with _event_id_lock:
        ns = max(time.time_ns(), _last_event_ns + 1)
        _last_event_ns = ns
    return f"{ns:020d}-{secrets.token_hex(6)}"


# ------------------------------------------------------------------------------------------
# The abstract store
# ------------------------------------------------------------------------------------------


class StateStore(abc.ABC):
    """Where snapshots, event inboxes and audit histories live.

    **Methods are synchronous and may block**; the runtime calls them through
    `anyio.to_thread.run_sync` when `blocking` is True, directly otherwise.

    Subclasses must implement `load` and `save`. The inbox and history methods have default
    implementations on top of those two: the inbox lives under the key ``"<id>\\x00inbox"``
    and the history under ``"<id>\\x00history"`` (each a JSON list). They are safe across
    threads of one process but **not across processes** (two publishers can lose an event),
    and since the derived keys are themselves valid ids, an instance whose id ends in
    ``"\\x00inbox"`` would collide. Stores used by more than one process should override all
    of them, as `InMemoryStateStore` and `DiskStateStore` do. `list_instances` has no default.
    """

    blocking: ClassVar[bool] = True

    # One lock for every default read-modify-write, shared by all instances of all subclasses
    # (a subclass need not call ``super().__init__``).
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    @abc.abstractmethod
    def load(self, instance_id: str) -> bytes | None:
        """The snapshot bytes of ``instance_id``, or ``None`` if it has none."""

    @abc.abstractmethod
    def save(self, instance_id: str, data: bytes) -> None:
        """Replace the snapshot of ``instance_id`` atomically."""

    def save_if(
        self, instance_id: str, data: bytes, expected: Callable[[bytes | None], bool]
    ) -> bool:
        """Save only if ``expected(current snapshot)`` holds; return whether it saved.

        The check and the save are one atomic step with respect to other ``save_if`` calls,
        which is what makes each checkpoint a compare-and-set. The default is atomic only
        within one process; `DiskStateStore` locks a file, so it holds across processes.
        """
        with self._default_lock:
            if not expected(self.load(instance_id)):
                return False
            self.save(instance_id, data)
            return True

    def commit(
        self,
        instance_id: str,
        data: bytes,
        expected: Callable[[bytes | None], bool],
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
    ) -> bool:
        """`save_if`; if it saved, delete the events ``consumed`` from the inbox and append
        ``history`` to the audit history. Returns whether it saved.

        What the runtime calls at every checkpoint. The default makes three steps of it; a
        store may make it one (`DiskStateStore` writes all three in one append and one fsync).
        """
        if not self.save_if(instance_id, data, expected):
            return False
        if consumed:
            self.delete_events(instance_id, consumed)
        if history:
            self.append_history_many(instance_id, history)
        return True

    def publish(
        self, instance_id: str, event_id: str, data: bytes, history: Sequence[bytes] = ()
    ) -> None:
        """`add_event`, then append ``history`` (its audit entries): what the runtime calls to
        publish. The default makes two steps of it; a store may make it one."""
        self.add_event(instance_id, event_id, data)
        if history:
            self.append_history_many(instance_id, history)

    def load_with_events(self, instance_id: str) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        """`load` and `list_events` together (a store may read them in one step)."""
        return self.load(instance_id), self.list_events(instance_id)

    def try_load_with_events(
        self, instance_id: str
    ) -> tuple[bytes | None, list[tuple[str, bytes]]] | None:
        """`load_with_events` if it can be answered without waiting on a device, else ``None``.

        Called on the event loop, so it must never block; the default always declines.
        """
        return None

    # -- event inbox (default: JSON list under a derived key) ---------------------------------

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        """Add (or replace) event ``event_id`` in the inbox of ``instance_id``."""
        key = _check_id(instance_id) + "\x00inbox"
        event_id = _check_event_id(event_id)
        encoded = base64.b64encode(_as_bytes(data, "event data")).decode("ascii")
        with self._default_lock:
            inbox = self._load_json_dict(key)
            inbox[event_id] = encoded
            self.save(key, json.dumps(inbox, sort_keys=True).encode())

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        """The inbox of ``instance_id`` as ``(event_id, data)`` pairs sorted by event id."""
        key = _check_id(instance_id) + "\x00inbox"
        with self._default_lock:
            inbox = self._load_json_dict(key)
        return sorted((eid, base64.b64decode(value)) for eid, value in inbox.items())

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        """Remove ``event_ids`` from the inbox of ``instance_id``; missing ids are fine."""
        key = _check_id(instance_id) + "\x00inbox"
        with self._default_lock:
            inbox = self._load_json_dict(key)
            doomed = set(event_ids)
            remaining = {eid: v for eid, v in inbox.items() if eid not in doomed}
            if remaining != inbox:
                self.save(key, json.dumps(remaining, sort_keys=True).encode())

    def _load_json_dict(self, key: str) -> dict[str, str]:
        raw = self.load(key)
        if raw is None:
            return {}
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise StoreError(f"corrupt inbox under key {_short_repr(key)}")
        return value

    # -- audit history (default: JSON list under a derived key) -------------------------------

    def append_history(self, instance_id: str, entry: bytes) -> None:
        """Append ``entry`` (JSON bytes without newlines) to the history of ``instance_id``."""
        key = _check_id(instance_id) + "\x00history"
        encoded = base64.b64encode(_check_history_entry(entry)).decode("ascii")
        with self._default_lock:
            raw = self.load(key)
            entries: list[str] = [] if raw is None else json.loads(raw)
            entries.append(encoded)
            self.save(key, json.dumps(entries).encode())

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        """Append several entries, in order; stores may do it in one write."""
        for entry in entries:
            self.append_history(instance_id, entry)

    def read_history(self, instance_id: str) -> list[bytes]:
        """The history entries of ``instance_id``, oldest first."""
        key = _check_id(instance_id) + "\x00history"
        with self._default_lock:
            raw = self.load(key)
        entries: list[str] = [] if raw is None else json.loads(raw)
        return [base64.b64decode(entry) for entry in entries]

    # -- the rest -----------------------------------------------------------------------------

    def list_instances(self) -> list[str]:
        """The ids that have a snapshot, sorted."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot list its instances")

    def close(self) -> None:  # noqa: B027 - a no-op default, not an abstract method
        """Release resources; a no-op by default."""
