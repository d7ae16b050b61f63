"""The store contract: what every store keeps and the few operations the runtime needs.

Contract
========

A `StateStore` maps an *instance id* (any ``str``) to four things:

* **the snapshot**: one opaque ``bytes`` value (JSON written by the runtime; a store never
  parses it);
* **the header**: an `InstanceHeader` the runtime derives from each snapshot it saves and
  hands to the store beside the bytes (sequence number, status, program, what the instance
  waits for, parent, lease). Stores keep it next to the bytes, typed (columns, a JSON line),
  and answer questions about instances from it alone;
* **the event inbox**: ``InboxEvent(id, name, data)`` values, listed in event-id order.
  Publishers add events, and a checkpoint deletes the ones its run consumed;
* **the audit history**: an append-only list of ``bytes`` entries (JSON, one line each),
  read only by tools. A resume never reads it.

The runtime calls four operations:

* `StateStore.read` → `StoredInstance` (header, bytes, inbox) to start or resume;
* `StateStore.commit` (expected sequence number, header, bytes, consumed event ids, audit
  entries) → whether it saved: a compare-and-set on the header's ``seq``; a pause calls
  `StateStore.commit_unless`, which first asks whether the inbox resolves the wait already
  (then nothing is saved), in the commit's own transaction where the store can;
* `StateStore.publish` to add an event (with its audit entries);
* `StateStore.ready` (now, limit) → the paused instances whose wait can be resolved now (an
  event in the inbox for a name the header awaits, a wake time passed, children finished).

Leases: one worker at a time
============================

A *lease* says which worker runs an instance now: ``(owner, until)``. `StateStore.claim`
takes or renews it (for an id with or without a snapshot: a start is claimed too) unless
another owner holds one that has not expired; `StateStore.release` gives it back. A commit
made with ``owner=`` fails (returns False, writes nothing) when another owner holds the
instance's lease, expired or not: a worker that stalled past its lease and was overtaken
cannot commit over the one that took the instance. A commit with ``owner=`` whose header is
no longer ``running`` (paused, completed, failed) releases the lease in the same step, so a
pause costs no extra trip. A commit without ``owner`` (the seed call form) ignores leases.
`StateStore.claim_ready` is `ready` plus `claim` in one step where a store can do that
(`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL). Leases need not be durable: a lease
lost in a power failure belonged to a worker that died with it.

Methods are synchronous and may block. The runtime calls them in worker threads (its own
small pool, `durable._runtime._offload`) when the class attribute ``blocking`` is true and
directly on the event loop otherwise.

A store written against the seed contract implements only ``load``/``save`` (and perhaps the
inbox and history methods); the defaults below build the four operations on those. The
defaults keep the header under the derived key ``"<id>\\x00header"`` and compare-and-set on
the ``seq`` read from the stored snapshot (the one place a snapshot is parsed outside the
runtime, kept for such stores only); they are atomic within one process, not across
processes. `InMemoryStateStore` and `DiskStateStore` implement everything natively.

Retained checkpoints
====================

A store keeps up to `StateStore.keep_checkpoints` superseded checkpoints of each instance
beside its current one (each its header and snapshot bytes, exactly as committed): what
``retry`` (back to the last good checkpoint before a failure) and ``fork --from-seq`` read.
`StateStore.checkpoints` lists them, oldest first; `StateStore.checkpoint` finds one by
``seq``, the current one included. A checkpoint is retained by the commit that supersedes
it, in the same atomic step; one saved through the seed ``save`` (no header) is not. The
stores that ship default to `DEFAULT_KEEP_CHECKPOINTS` (10) and take ``keep_checkpoints=``;
0 keeps none. The defaults below (for a store of only ``load``/``save``) keep none.

Deleting
========

`StateStore.delete` removes everything kept for one id: its snapshot and header, its inbox,
its audit history, its retained checkpoints and its lease; it returns whether anything was
there. It is unconditional (no compare-and-set: the runtime's checks of status and lease
come before it) and never touches another id. A later read finds nothing, as for an id never
used; a commit or publish to that id starts afresh. `InMemoryStateStore` and
`SQLiteStateStore` delete in one atomic step; `DiskStateStore` removes the journal first (see
its package docstring). The default, for a store of only ``load``/``save``, needs the seed
store to implement `StateStore.remove` (a key and its bytes gone) and removes the snapshot,
then the header, inbox and history keys: four steps, atomic within one process, not across
processes; a crash between them leaves keys that read as no instance (no snapshot) until
`delete` runs again.

Every ``str`` is a valid instance id: ``""``, ``"../x"``, ``"/abs"``, ``"a\\x00b"``, ``"CON"``,
very long strings, strings holding lone surrogates, ids differing only by case. Distinct ids
never share storage. Anything that is not a ``str`` raises `InvalidInstanceIdError`.
"""

from __future__ import annotations

import abc
import base64
import bisect
import json
import reprlib
import secrets
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, TypeVar

from .._model import FINISHED, InstanceHeader, is_ready
from ..errors import InvalidInstanceIdError, StoreError

T = TypeVar("T")

__all__ = [
    "DEFAULT_KEEP_CHECKPOINTS",
    "InboxEvent",
    "Lease",
    "StateStore",
    "StoredInstance",
    "new_event_id",
]

#: Superseded checkpoints a store keeps per instance unless told otherwise: enough for
#: ``retry`` after a failure a few checkpoints deep and for ``fork`` from the last ones.
DEFAULT_KEEP_CHECKPOINTS = 10


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One published event waiting in an instance's inbox."""

    id: str  # unique; ids sort in publishing order (`new_event_id`)
    name: str
    data: bytes  # JSON written by the backend (publication time, payload)


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """What `StateStore.read` returns: everything the runtime needs to start or resume.

    ``header`` is None when there is no snapshot, or for a snapshot saved before headers
    existed (the runtime then derives one from the snapshot it parses anyway).
    """

    header: InstanceHeader | None
    data: bytes | None
    inbox: tuple[InboxEvent, ...] = ()

    @property
    def seq(self) -> int | None:
        return None if self.header is None else self.header.seq


@dataclass(frozen=True, slots=True)
class Lease:
    """Who runs an instance now, and until when (unless renewed)."""

    owner: str
    until: datetime


class LeaseTable:
    """Leases kept in this process: the default of every store, and `InMemoryStateStore`'s
    own. Within one process exact; across processes they do not exist."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by a commit from `allows` to `settle`
        self._leases: dict[str, Lease] = {}

    def claim(self, instance_id: str, owner: str, now: datetime, until: datetime) -> bool:
        with self.lock:
            held = self._leases.get(instance_id)
            if held is not None and held.owner != owner and held.until > now:
                return False
            self._leases[instance_id] = Lease(owner, until)
            return True

    def renew(self, instance_id: str, owner: str, until: datetime) -> bool:
        with self.lock:
            held = self._leases.get(instance_id)
            if held is None or held.owner != owner:
                return False
            self._leases[instance_id] = Lease(owner, until)
            return True

    def release(self, instance_id: str, owner: str) -> None:
        with self.lock:
            held = self._leases.get(instance_id)
            if held is not None and held.owner == owner:
                del self._leases[instance_id]

    def get(self, instance_id: str) -> Lease | None:
        with self.lock:
            return self._leases.get(instance_id)

    def drop(self, instance_id: str) -> bool:
        """Forget the lease of a deleted instance (the caller holds `lock`)."""
        return self._leases.pop(instance_id, None) is not None

    def allows(self, instance_id: str, owner: str | None) -> bool:
        """Whether a commit by `owner` may go ahead (the caller holds `lock`)."""
        if owner is None:
            return True
        held = self._leases.get(instance_id)
        return held is None or held.owner == owner

    def settle(self, instance_id: str, owner: str | None, header: InstanceHeader) -> None:
        """After a commit by `owner` (the caller holds `lock`): a header that is no longer
        running ends the lease."""
        if owner is not None and header.status != "running":
            self._leases.pop(instance_id, None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: exact, and ordered as aware datetimes are."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def check_keep(keep: object) -> int:
    """A valid ``keep_checkpoints`` (an int >= 0)."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 0:
        raise ValueError(f"keep_checkpoints must be an int >= 0, got {_short_repr(keep)}")
    return keep


def check_lease_args(owner: object, now: object, until: object) -> str:
    if not isinstance(owner, str) or not owner:
        raise TypeError(f"a lease owner is a non-empty str, not {_short_repr(owner)}")
    if not isinstance(now, datetime) or not isinstance(until, datetime):
        raise TypeError("now and until must be datetimes")
    return owner


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


def _check_header(header: object) -> InstanceHeader:
    if not isinstance(header, InstanceHeader):
        raise TypeError(f"header must be an InstanceHeader, got {type(header).__qualname__}")
    return header


def parse_header(instance_id: str, raw: bytes | str, where: str) -> InstanceHeader:
    """A stored header; `StoreError` naming the instance and `where` it is kept if corrupt."""
    try:
        return InstanceHeader.from_json(raw)
    except ValueError as e:
        raise StoreError(
            f"instance {_short_repr(instance_id)}: corrupt header in {where} ({e})"
        ) from e


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
    """Where snapshots, headers, event inboxes and audit histories live (module docstring).

    **Methods are synchronous and may block**; the runtime calls them in worker threads when
    `blocking` is True, directly otherwise.

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

    # -- the four operations the runtime calls ------------------------------------------------

    def read(self, instance_id: str) -> StoredInstance:
        """The header, snapshot bytes and inbox of ``instance_id`` (empty if it has none)."""
        instance_id = _check_id(instance_id)
        data = self.load(instance_id)
        header = self.read_header(instance_id) if data is not None else None
        inbox = tuple(
            InboxEvent(event_id, _event_name(instance_id, event_id, event), event)
            for event_id, event in self.list_events(instance_id)
        )
        return StoredInstance(header, data, inbox)

    def read_inbox(self, instance_id: str) -> tuple[InboxEvent, ...]:
        """The inbox of ``instance_id`` alone (what a pause looks at before it commits)."""
        return self.read(instance_id).inbox

    def try_read(self, instance_id: str) -> StoredInstance | None:
        """`read` if it can be answered without waiting on a device, else ``None``.

        Called on the event loop, so it must never block; the default always declines.
        """
        return None

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
        """Save ``data`` and ``header`` if the stored snapshot is checkpoint ``expected_seq``
        (0: none is stored) and, with ``owner``, no other owner holds the lease (module
        docstring); then the events ``consumed`` leave the inbox and ``history`` is
        appended to the audit history. Returns whether it saved.

        What the runtime calls at every checkpoint: a compare-and-set. A store should make it
        one atomic step (`DiskStateStore` writes one record with one fsync); the default makes
        three steps of it on `load`/`save`, atomic only within one process.
        """
        instance_id = _check_id(instance_id)
        leases = self._lease_table()
        with self._default_lock, leases.lock:
            if not leases.allows(instance_id, owner):
                return False
            if _legacy_seq(self.load(instance_id)) != expected_seq:
                return False
            self.save(instance_id, _as_bytes(data, "snapshot"))
            self.save(instance_id + _HEADER_KEY, header.to_json())
            leases.settle(instance_id, owner, header)
        if consumed:
            self.delete_events(instance_id, consumed)
        if history:
            self.append_history_many(instance_id, history)
        return True

    def commit_unless(
        self,
        instance_id: str,
        expected_seq: int,
        header: InstanceHeader,
        data: bytes,
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
        *,
        owner: str | None = None,
        unless: Callable[[tuple[InboxEvent, ...]], T | None],
    ) -> T | bool:
        """A pause's commit: ``unless(inbox)`` first; when it returns something other than
        None (the pause's wait can be resolved by what is in the inbox), return that and save
        nothing; otherwise `commit` and return whether it saved.

        ``unless`` is pure and quick (it only looks at the events). The default reads the
        inbox, then commits: two steps, so an event published between them is found by the
        instance's next resume, as one published just after the commit would be. A store may
        look inside the commit's own transaction instead (`SQLiteStateStore`: one
        transaction, one trip to the store thread); such a store's pauses do not go through
        its `commit`, so a subclass that wraps `commit` wraps this too.
        """
        found = unless(self.read_inbox(instance_id))
        if found is not None:
            return found
        leased = {} if owner is None else {"owner": owner}  # a commit older than leases
        return self.commit(instance_id, expected_seq, header, data, consumed, history, **leased)

    def publish(
        self,
        instance_id: str,
        event_id: str,
        name: str,
        data: bytes,
        history: Sequence[bytes] = (),
    ) -> None:
        """Add event ``event_id`` called ``name`` to the inbox, with its audit entries;
        durable when this returns. The default makes two steps of it."""
        self.add_event(instance_id, event_id, data)
        if history:
            self.append_history_many(instance_id, history)

    def ready(self, now: datetime, limit: int = 100) -> list[str]:
        """Up to ``limit`` paused instances whose wait can be resolved at ``now``, from their
        headers and inbox names alone (`durable._model.is_ready`), oldest update first.

        The default reads every header listed by `list_instances` (none if it cannot list).
        """
        try:
            ids = self.list_instances()
        except NotImplementedError:
            return []
        headers = {i: h for i in ids if (h := self.read_header(i)) is not None}
        return ready_among(headers, now, limit, self._inbox_names, self.read_header)

    # -- leases (module docstring) -------------------------------------------------------------

    def claim(self, instance_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease of ``instance_id`` for ``owner`` until ``until``, unless
        another owner holds one that has not expired at ``now``. Returns whether ``owner``
        holds it now. The default keeps leases in this process only."""
        owner = check_lease_args(owner, now, until)
        return self._lease_table().claim(_check_id(instance_id), owner, now, until)

    def renew(self, instance_id: str, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease of ``instance_id`` to ``until`` if ``owner`` still holds
        it (expired or not, as long as nobody took it over); never takes a lease that is not
        its own or that was released — unlike `claim`, which a late renewal must not use."""
        check_lease_args(owner, until, until)
        return self._lease_table().renew(_check_id(instance_id), owner, until)

    def claim_read(
        self, instance_id: str, owner: str, now: datetime, until: datetime
    ) -> StoredInstance | None:
        """`claim`, then `read`: what a worker does before it runs an instance. None when
        another owner holds the lease. A store may do both in one trip."""
        if not self.claim(instance_id, owner, now, until):
            return None
        return self.read(instance_id)

    def release(self, instance_id: str, owner: str) -> None:
        """End ``owner``'s lease of ``instance_id``; fine if it holds none."""
        self._lease_table().release(_check_id(instance_id), owner)

    def lease(self, instance_id: str) -> Lease | None:
        """The lease of ``instance_id`` as stored (perhaps expired), or None."""
        return self._lease_table().get(_check_id(instance_id))

    def claim_ready(
        self,
        now: datetime,
        owner: str,
        until: datetime,
        limit: int = 100,
        *,
        programs: Collection[str] | None = None,
    ) -> list[str]:
        """What a worker runs next: the *root* instances (no parent) that can continue at
        ``now``, each now leased to ``owner``; at most ``limit``.

        A root can continue when it is ready itself or when a descendant is (a child of
        `durable.gather` is run by its root's run, so its root is what is claimed). Only
        roots whose program is in ``programs`` are claimed (None: any); roots leased to
        another owner and not expired are left out. The default builds on `ready`,
        `read_header` and `claim`; a store may do it in one transaction."""
        check_lease_args(owner, now, until)
        roots = roots_of(self.ready(now, limit), self.read_header)
        wanted = [i for i, program in roots if programs is None or program in programs]
        return [i for i in wanted if self.claim(i, owner, now, until)]

    # -- retained checkpoints (module docstring) ----------------------------------------------

    #: How many superseded checkpoints this store keeps per instance (0 for the defaults).
    keep_checkpoints: int = 0

    def checkpoints(self, instance_id: str) -> list[tuple[InstanceHeader, bytes]]:
        """The retained checkpoints of ``instance_id`` before its current one, oldest first
        (at most `keep_checkpoints`): each its header and snapshot bytes. The default keeps
        none."""
        _check_id(instance_id)
        return []

    def checkpoint(self, instance_id: str, seq: int) -> tuple[InstanceHeader, bytes] | None:
        """Checkpoint ``seq`` of ``instance_id`` (the current one or a retained one), or None
        when it is not kept."""
        stored = self.read(instance_id)
        if stored.header is not None and stored.data is not None and stored.header.seq == seq:
            return stored.header, stored.data
        return next(((h, d) for h, d in self.checkpoints(instance_id) if h.seq == seq), None)

    # -- wake-up hints from other processes ---------------------------------------------------

    #: Whether `listen` hears other processes (PostgreSQL's LISTEN/NOTIFY); workers then
    #: poll `ready` only as a fallback.
    listens: ClassVar[bool] = False

    async def listen(self, notify: Callable[[str], None]) -> None:
        """Call ``notify(instance_id)`` whenever any process publishes to an instance or
        commits one that a parent may wait for, until cancelled. A hint: a lost one only
        delays (workers also poll `ready`). ``notify`` is thread-safe and never blocks.

        The default has nothing to hear and returns at once."""
        return None

    def _lease_table(self) -> LeaseTable:
        table: LeaseTable | None = self.__dict__.get("_default_leases")
        if table is None:
            with self._default_lock:
                table = self.__dict__.setdefault("_default_leases", LeaseTable())
        return table

    def read_header(self, instance_id: str) -> InstanceHeader | None:
        """The header saved with the current snapshot, or ``None``."""
        raw = self.load(_check_id(instance_id) + _HEADER_KEY)
        if raw is None:
            return None
        return parse_header(instance_id, raw, type(self).__qualname__)

    def _inbox_names(self, instance_id: str) -> set[str]:
        return {event.name for event in self.read(instance_id).inbox}

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

    # -- deleting (module docstring) ----------------------------------------------------------

    def delete(self, instance_id: str) -> bool:
        """Remove everything kept for ``instance_id`` (snapshot, header, inbox, history,
        retained checkpoints, lease); returns whether anything was there.

        The default removes the four keys the defaults keep through `remove`, the snapshot
        first (module docstring), and the lease this process holds."""
        instance_id = _check_id(instance_id)
        leases = self._lease_table()
        with self._default_lock, leases.lock:
            found = leases.drop(instance_id)
            for suffix in ("", _HEADER_KEY, "\x00inbox", "\x00history"):
                found = self.remove(instance_id + suffix) or found
        return found

    def remove(self, key: str) -> bool:
        """Remove the bytes saved under ``key`` by `save`; returns whether there were any.
        Only the default `delete` calls it; a seed store that can delete implements it."""
        raise NotImplementedError(
            f"{type(self).__qualname__} cannot delete: implement remove(key) (or delete)"
        )

    # -- the rest -----------------------------------------------------------------------------

    def list_instances(self) -> list[str]:
        """The ids that have a snapshot, sorted."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot list its instances")

    def list_headers(
        self,
        status: str | None = None,
        program: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, InstanceHeader | None]]:
        """A page of the instances that have a snapshot: up to ``limit`` ``(id, header)``
        pairs, sorted by id, the ids greater than ``after`` (a cursor: the last id of the
        previous page), with ``status`` and ``program`` (``"module:qualname"``) if given.

        For tools (the dashboard): a page costs a few header reads, never a snapshot parse.
        The header is None for a snapshot saved without one (the seed ``save``) or one that
        cannot be read; such an instance matches no ``status`` or ``program`` filter. The
        default walks `list_instances` and `read_header`; stores with indexed headers answer
        with one query.
        """
        ids = self.list_instances()
        found: list[tuple[str, InstanceHeader | None]] = []
        for instance_id in ids[bisect.bisect_right(ids, after) if after is not None else 0 :]:
            if len(found) >= limit:
                break
            header = self._header_or_none(instance_id)
            if header_matches(header, status, program):
                found.append((instance_id, header))
        return found

    def _header_or_none(self, instance_id: str) -> InstanceHeader | None:
        try:
            return self.read_header(instance_id)
        except StoreError:
            return None

    def close(self) -> None:  # noqa: B027 - a no-op default, not an abstract method
        """Release resources; a no-op by default."""


# ------------------------------------------------------------------------------------------
# Shared by the defaults and the stores
# ------------------------------------------------------------------------------------------

_HEADER_KEY = "\x00header"


def ready_among(
    headers: dict[str, InstanceHeader],
    now: datetime,
    limit: int,
    inbox_names: Callable[[str], Collection[str]],
    header_of: Callable[[str], InstanceHeader | None],
) -> list[str]:
    """The ids among ``headers`` whose wait can be resolved at ``now``, oldest update first.

    ``inbox_names(id)`` gives the names in an instance's inbox (asked of every paused
    instance: the cancellation event resolves any wait); ``header_of(id)`` the header of a
    child (asked only for children).
    """
    found = []
    for instance_id, header in sorted(headers.items(), key=lambda item: item[1].updated_at):
        if header.status != "paused":
            continue
        names = inbox_names(instance_id)
        done = [c for c in header.children if _finished(headers.get(c) or header_of(c))]
        if is_ready(header, now, names, done):
            found.append(instance_id)
            if len(found) >= limit:
                break
    return found


def roots_of(
    ids: Sequence[str], header_of: Callable[[str], InstanceHeader | None]
) -> list[tuple[str, str]]:
    """The root instance of each of ``ids`` (following ``parent``), with its program; each
    root once, in the order first met. Ids whose chain breaks (no header) are left out."""
    roots: dict[str, str] = {}
    for instance_id in ids:
        header, seen = header_of(instance_id), {instance_id}
        while header is not None and header.parent is not None and header.parent not in seen:
            instance_id = header.parent
            seen.add(instance_id)
            header = header_of(instance_id)
        if header is not None and header.parent is None:
            roots.setdefault(instance_id, header.program)
    return list(roots.items())


def header_matches(header: InstanceHeader | None, status: str | None, program: str | None) -> bool:
    """Whether an instance with ``header`` belongs on a `StateStore.list_headers` page."""
    if status is None and program is None:
        return True
    if header is None:
        return False
    return status in (None, header.status) and program in (None, header.program)


def _finished(header: InstanceHeader | None) -> bool:
    return header is not None and header.status in FINISHED


def _legacy_seq(data: bytes | None) -> int:
    """The ``seq`` of a stored snapshot, read from its JSON: only for stores that keep no
    header of their own (the defaults above) and for snapshots saved before headers."""
    if data is None:
        return 0
    try:
        seq = json.loads(data).get("seq")
    except (ValueError, AttributeError, RecursionError):
        return -1  # a corrupt snapshot is never overwritten silently
    return seq if isinstance(seq, int) else -1


def _event_name(instance_id: str, event_id: str, data: bytes) -> str:
    """The name inside event data the backend wrote (a JSON object with ``"name"``): for
    stores that keep no name of their own."""
    try:
        name = json.loads(data)["name"]
    except (ValueError, KeyError, TypeError, RecursionError):
        name = None
    if not isinstance(name, str):
        raise StoreError(f"instance {_short_repr(instance_id)}: event {event_id!r} is corrupt")
    return name
