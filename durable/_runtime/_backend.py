"""Orchestration backends: where the runtime loads and saves state and finds events.

`OrchestrationBackend` is the seed contract: three abstract async methods. A user's backend
that implements only those works for everything that needs no more: it keeps no inbox, so an
event counts as delivered when the paused instance is called again. The optional
capabilities below have defaults built on the three; a backend overrides them to do better:

* `load_instance` — the validated snapshot and the inbox, in one trip;
* `inbox` — the instance's published events (None: no inbox);
* `commit` — a checkpoint: the state, its header and its audit entries;
* `commit_wait` — a pause: save it unless its wait can be resolved at once;
* ``clock`` — where every timestamp comes from.

`DurableBackend` implements them over a `StateStore`: `publish_event` writes the event to
the store before it returns, apart from the snapshot, so a publisher never races with a
checkpoint. Consumption is two-phase: the runtime names the consumed event ids in the next
snapshot it saves, and `StateStore.commit` deletes them with that save (in the same step on
every store that ships). A crash in between on a store without atomic commits leaves the ids
in the snapshot, which hides them from later waits; the next load deletes them.

In-process wake-ups: `DurableBackend.add_listener(fn)` registers a callable that every
`publish_event`, `publish` and `cancel` of this backend object calls with the instance id once
the event is durable. It is called synchronously, in whatever thread published (a worker
thread for `publish` on a blocking store, any thread for `publish_event`), so it must be quick,
thread-safe and never block: `durable.Worker` hands the id to its event loop with the loop's own
thread-safe scheduler. An exception from a listener is logged and never fails the publish.
Publishes from other processes are not seen: workers find them with `StateStore.ready`.

A resume is one trip to the store and so is a pause: the hand-off to a worker thread costs
about as much as the file work itself, so neither makes two.
"""

from __future__ import annotations

import abc
import functools
import json
import threading
from collections.abc import Callable, Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from .._model import CANCEL_EVENT, InstanceHeader, Snapshot, Wait, header_of, read_snapshot
from .._model._codec import UnencodableValue, encoding
from .._tracing import emit
from ..errors import (
    ConcurrentResumeError,
    InvalidInstanceIdError,
    InvalidWaitError,
    UnserializableStateError,
)
from ..stores import InboxEvent, InMemoryStateStore, StateStore, StoredInstance, new_event_id
from ._clock import SYSTEM_CLOCK, Clock
from ._delete import delete_instances, purge_instances
from ._offload import offload
from ._repair import Repair, edit_instance, fork_instance, operator, retry_instance
from ._resolve import Resolved, resolve

__all__ = ["DurableBackend", "Loaded", "OrchestrationBackend", "RunLease", "lease_owner"]

T = TypeVar("T")


@dataclass(slots=True)
class RunLease:
    """The lease a run holds, set by `durable.Worker` around the runs of instances it claimed
    (`lease_owner`): the run commits as `owner` (`StateStore.commit(owner=)`), so a worker
    overtaken after its lease expired cannot commit; `settled` turns true once a commit of
    `instance_id` left it not running, which ended the lease in the same step."""

    owner: str
    instance_id: str
    settled: bool = False
    prefetched: StoredInstance | None = None  # read with the claim; the run's first read


lease_owner: ContextVar[RunLease | None] = ContextVar("durable_lease_owner", default=None)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded instance: its snapshot (None if it never started) and its inbox (None for a
    backend without one: calling a paused instance again delivers its event)."""

    snapshot: Snapshot | None
    inbox: tuple[InboxEvent, ...] | None


class OrchestrationBackend(abc.ABC):
    """Where a `DurableRuntime` keeps the state of instances.

    Subclass it and implement the three abstract methods; override the optional capabilities
    (module docstring) for richer behaviour.
    """

    clock: Clock = SYSTEM_CLOCK

    @abc.abstractmethod
    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        """Return the last state saved for `instance_id`, or None if there is none."""

    @abc.abstractmethod
    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        """Durably replace the state of `instance_id` (a JSON-compatible dict)."""

    @abc.abstractmethod
    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        """Called after `instance_id` saved a pause waiting for `event_name`."""

    # -- optional capabilities ---------------------------------------------------------------

    async def inbox(self, instance_id: str) -> Sequence[InboxEvent] | None:
        """The events published to `instance_id`, oldest first; None: this backend keeps no
        inbox (the default)."""
        return None

    async def load_instance(self, instance_id: str) -> Loaded:
        """The saved snapshot, read by the one snapshot reader, and the inbox."""
        state = await self.load_state(instance_id)
        snapshot = None if state is None else read_snapshot(instance_id, state)
        inbox = await self.inbox(instance_id)
        return Loaded(snapshot, None if inbox is None else tuple(inbox))

    async def commit(
        self,
        instance_id: str,
        state: dict[str, Any],
        header: InstanceHeader,
        history: list[dict[str, Any]],
    ) -> None:
        """Save `state` (with `header`, what a store keeps beside it) and append `history`
        (audit entries). The default saves the state and drops the rest."""
        await self.save_state(instance_id, state)

    async def commit_wait(
        self,
        instance_id: str,
        state: dict[str, Any],
        header: InstanceHeader,
        history: list[dict[str, Any]],
        wait: Wait,
        exclude: Collection[str],
    ) -> Resolved | None:
        """Save the paused `state` unless `wait` can be resolved now.

        Returns how it resolved (then nothing is saved: the run takes the value and goes on),
        or None once `state` is committed. Events in `exclude` were consumed already.
        """
        resolved = resolve(wait, await self.inbox(instance_id), self.clock.now(), exclude=exclude)
        if resolved is None:
            await self.commit(instance_id, state, header, history)
        return resolved


class DurableBackend(OrchestrationBackend):
    """An `OrchestrationBackend` over a `StateStore`, with a durable event inbox."""

    # Class-level defaults, so that a subclass need not call ``super().__init__``.
    _listeners: tuple[Callable[[str], None], ...] = ()
    _listeners_lock: threading.Lock = threading.Lock()

    def __init__(self, store: StateStore | None = None, *, clock: Clock | None = None) -> None:
        self.store = store if store is not None else InMemoryStateStore()
        if clock is not None:
            self.clock = clock

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call `listener(instance_id)` after every publish or cancel through this backend
        (module docstring: any thread, must not block)."""
        with self._listeners_lock:
            self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        """Stop calling `listener`; a listener not registered is fine."""
        with self._listeners_lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def _notify(self, instance_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(instance_id)
            except Exception as e:  # a wake-up is a hint: the publish itself is done
                emit("listener.failed", level="warning", instance_id=instance_id, error=repr(e))

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        if self.store.blocking:
            return await offload(fn, *args)
        return fn(*args)

    async def _read(self, instance_id: str) -> StoredInstance:
        """The stored instance: read with the run's claim, or on the event loop when the store
        can answer without blocking, or in a worker thread."""
        lease = lease_owner.get()
        if lease is not None and lease.instance_id == instance_id and lease.prefetched:
            prefetched, lease.prefetched = lease.prefetched, None
            return prefetched
        stored = self.store.try_read(instance_id)
        if stored is None:
            stored = await self._io(self.store.read, instance_id)
        return stored

    async def load_instance(self, instance_id: str) -> Loaded:
        stored = await self._read(instance_id)
        if stored.data is None:
            return Loaded(None, stored.inbox)
        snapshot = read_snapshot(instance_id, stored.data)
        inbox = stored.inbox
        leftover = [e.id for e in inbox if e.id in snapshot.consumed_events]
        if leftover:  # a crash between a save and its cleanup, on a store without atomic commits
            await self._io(self.store.delete_events, instance_id, leftover)
            inbox = tuple(e for e in inbox if e.id not in leftover)
        return Loaded(snapshot, inbox)

    async def inbox(self, instance_id: str) -> Sequence[InboxEvent]:
        return (await self._read(instance_id)).inbox

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        """The saved state as a JSON object (of the format it was saved in)."""
        stored = await self._read(instance_id)
        if stored.data is None:
            return None
        state: dict[str, Any] = read_snapshot(instance_id, stored.data).model_dump(mode="json")
        return state

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        """Save `state` (a snapshot as a JSON object) as the next checkpoint."""
        snapshot = read_snapshot(instance_id, state)
        await self.commit(instance_id, state, header_of(snapshot), [])

    async def commit(
        self,
        instance_id: str,
        state: dict[str, Any],
        header: InstanceHeader,
        history: list[dict[str, Any]],
    ) -> None:
        """Save `state` if the store still holds the checkpoint it follows (``seq - 1``) and,
        in a run of a `durable.Worker`, the worker still holds the instance's lease.

        In one trip to the store: the compare-and-set save, deleting the events the state
        names as consumed, and appending `history`. Raises `ConcurrentResumeError` when
        another run saved the instance first; then nothing is written and the events this
        run consumed stay in the inbox.
        """
        job = _commit_job(self.store, instance_id, state, header, history)
        _committed(instance_id, header, await self._io(job))

    async def commit_wait(
        self,
        instance_id: str,
        state: dict[str, Any],
        header: InstanceHeader,
        history: list[dict[str, Any]],
        wait: Wait,
        exclude: Collection[str],
    ) -> Resolved | None:
        """Resolve `wait` against the inbox and, if it must wait, commit: one store trip.

        The inbox is looked at on the event loop when the store can do that without blocking
        (then the thread only saves), else by `StateStore.commit_unless` in the store's
        thread (inside the commit's transaction on SQLite); an event published after that
        look is found by the next call, as one published just after the save would be.
        """
        now = self.clock.now()
        quick = self.store.try_read(instance_id)
        if quick is not None:
            resolved = resolve(wait, quick.inbox, now, exclude=exclude)
            if resolved is not None:
                return resolved
            commit = _commit_job(self.store, instance_id, state, header, history)
            _committed(instance_id, header, await self._io(commit))
            return None

        def unless(inbox: tuple[InboxEvent, ...]) -> Resolved | None:
            return resolve(wait, inbox, now, exclude=exclude)

        job = _commit_job(self.store, instance_id, state, header, history, unless=unless)
        outcome = await self._io(job)
        if isinstance(outcome, Resolved):
            return outcome
        _committed(instance_id, header, outcome)
        return None

    def read_history(self, instance_id: str) -> list[dict[str, Any]]:
        """The audit history of `instance_id`, oldest first (see ``durable.EVENTS``)."""
        return [json.loads(entry) for entry in self.store.read_history(instance_id)]

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        """Nothing to do: the saved snapshot records the wait."""

    def publish_event(self, instance_id: str, event_name: str, payload: Any = None) -> None:
        """Store event `event_name` with `payload` in the inbox of `instance_id`; durable once
        this returns.

        Synchronous (as in the seed API): with a `DiskStateStore` it appends and fsyncs a
        record; from async code prefer ``await backend.publish(...)``. The payload is saved
        like a live variable (same types); one that cannot be saved raises
        `UnserializableStateError` and nothing is stored. An event published before the
        instance reaches its wait is kept until then; each is consumed once, by the first wait
        for its name, in publishing order.
        """
        _check_ids(instance_id, event_name)
        if event_name == CANCEL_EVENT:
            raise InvalidWaitError(
                f"the event name {CANCEL_EVENT!r} is reserved: use backend.cancel(instance_id)"
            )
        self._publish(instance_id, event_name, payload)
        self._notify(instance_id)

    async def publish(self, instance_id: str, event_name: str, payload: Any = None) -> None:
        """`publish_event` for async code: the store's I/O runs off the event loop."""
        _check_ids(instance_id, event_name)
        if self.store.blocking:
            await offload(self.publish_event, instance_id, event_name, payload)
        else:
            self.publish_event(instance_id, event_name, payload)

    def cancel(self, instance_id: str, reason: str | None = None) -> None:
        """Record a cancellation of `instance_id`, durably: it is delivered as
        `InstanceCancelledError` at the instance's current or next wait (see the README)."""
        _check_ids(instance_id, CANCEL_EVENT)
        self._publish(instance_id, CANCEL_EVENT, reason)
        emit("instance.cancel_requested", instance_id=instance_id)
        self._notify(instance_id)

    # -- repairs by an operator (see `durable._runtime._repair`) ---------------------------------

    async def retry(
        self, instance_id: str, *, by: str | None = None, reason: str | None = None
    ) -> Repair:
        """Put a failed instance back at its last good checkpoint (the newest retained one
        before the failure), as a new checkpoint; its next resume continues from there. An
        ``instance.retried`` history entry records it with ``by`` (default: the OS user).
        Raises `RepairRefusedError` (nothing written) for an instance that is not failed or
        keeps no good checkpoint."""
        job = functools.partial(
            retry_instance, self.store, self.clock.now(), instance_id, by, reason
        )
        done = await self._io(job)
        emit("instance.retried", instance_id=instance_id, seq=done.seq, from_seq=done.from_seq)
        self._notify(instance_id)
        return done

    async def edit(
        self,
        instance_id: str,
        *,
        frame: int,
        set: dict[str, Any] | None = None,
        point: str | None = None,
        why: str,
        by: str | None = None,
        expected_seq: int | None = None,
    ) -> Repair:
        """Change live values of frame ``frame`` (0: the root) of a paused or failed instance
        (a failed one: of the checkpoint `retry` resumes from) to ``set`` (name -> JSON),
        and with ``point`` move that frame to another named pause point (or ``"start"``) of
        its function, whose code must be imported. A compare-and-set on ``seq``
        (``expected_seq``: refuse unless the instance is still at that checkpoint), recorded
        as ``instance.edited`` with old and new values, ``by`` (default: the OS user) and
        ``why``. Raises `RepairRefusedError` and writes nothing when refused."""
        job = functools.partial(
            edit_instance,
            self.store,
            self.clock.now(),
            instance_id,
            frame=frame,
            values=dict(set or {}),
            point=point,
            why=why,
            by=by,
            expected_seq=expected_seq,
        )
        done = await self._io(job)
        emit("instance.edited", instance_id=instance_id, seq=done.seq, frame=frame, why=why)
        return done

    async def fork(self, instance_id: str, new_id: str, from_seq: int | None = None) -> Repair:
        """Copy instance ``instance_id`` (its current checkpoint, or retained checkpoint
        ``from_seq``) to the new instance ``new_id`` with an empty inbox; both histories get
        an ``instance.forked`` entry. Raises `InstanceExistsError` if ``new_id`` exists."""
        job = functools.partial(
            fork_instance, self.store, self.clock.now(), instance_id, new_id, from_seq
        )
        done = await self._io(job)
        emit("instance.forked", instance_id=new_id, origin=instance_id, origin_seq=done.from_seq)
        return done

    # -- deleting (see `durable._runtime._delete`) ----------------------------------------------

    async def delete(
        self,
        instance_id: str,
        *,
        force: bool = False,
        cascade: bool = False,
        by: str | None = None,
        reason: str | None = None,
    ) -> list[str]:
        """Delete ``instance_id`` and everything stored for it (with ``cascade``: its
        descendants too, children first); returns the ids deleted. Refused, deleting nothing,
        unless ``force``: a running instance (`InstanceLeasedError` when a worker holds it,
        `RepairRefusedError` when its header says running), a child whose parent is not
        finished, a paused instance waiting for children (without ``cascade``).
        `InstanceNotFoundError` when nothing is stored for it. Each deletion is an
        ``instance.deleted`` event with ``by`` (default: the OS user) and ``reason``."""
        job = functools.partial(
            delete_instances,
            self.store,
            self.clock.now(),
            instance_id,
            force=force,
            cascade=cascade,
        )
        deleted = await self._io(job)
        who = operator(by)
        for gone in deleted:
            emit("instance.deleted", instance_id=gone, by=who, reason=reason, force=force)
        return deleted

    async def purge(
        self,
        *,
        status: Collection[str] = ("completed",),
        older_than: timedelta,
        program: str | None = None,
        dry_run: bool = True,
    ) -> list[str]:
        """The instances whose status is in ``status`` and whose last update is older than
        ``older_than`` (by this backend's clock), of ``program`` if given, children first:
        deleted unless ``dry_run`` (the default, which changes nothing). Never an instance a
        worker holds, nor a child whose unfinished root stays; see `durable._runtime._delete`."""
        job = functools.partial(
            purge_instances,
            self.store,
            self.clock.now(),
            status=status,
            older_than=older_than,
            program=program,
            dry_run=dry_run,
        )
        found = await self._io(job)
        if not dry_run:
            for gone in found:
                emit("instance.deleted", instance_id=gone, by="purge", reason="purge", force=False)
        return found

    def _publish(self, instance_id: str, event_name: str, payload: Any) -> None:
        at = self.clock.now().isoformat()
        record: dict[str, Any] = {"name": event_name, "published_at": at}
        if payload is not None:
            try:
                with encoding() as encoder:
                    record["payload"] = encoder.encode(payload, "payload")
            except UnencodableValue as e:
                raise UnserializableStateError(
                    f"instance {instance_id!r}: cannot publish event {event_name!r}: its payload"
                    f"{f' at `{e.path}`' if e.path != 'payload' else ''} of type {e.type_name} "
                    f"cannot be saved: {e.reason}. Nothing was stored"
                ) from None
        data = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        event_id = new_event_id()
        entry = {"at": at, "kind": "event.published", "event_name": event_name}
        audit = _json_line({**entry, "event_id": event_id})
        raw = data.encode("utf-8", "surrogatepass")
        self.store.publish(instance_id, event_id, event_name, raw, [audit])
        emit("event.published", instance_id=instance_id, event_name=event_name, event_id=event_id)


def _check_ids(instance_id: object, event_name: object) -> None:
    if not isinstance(instance_id, str):
        raise InvalidInstanceIdError(
            f"instance ids are strings, not {type(instance_id).__name__}: {instance_id!r}"
        )
    if not isinstance(event_name, str):
        raise TypeError(f"event names are strings, not {type(event_name).__name__}")


def _commit_job(
    store: StateStore,
    instance_id: str,
    state: dict[str, Any],
    header: InstanceHeader,
    history: list[dict[str, Any]],
    *,
    unless: Callable[[tuple[InboxEvent, ...]], Resolved | None] | None = None,
) -> Callable[[], Any]:
    """The store's compare-and-set save of `state` (`StateStore.commit`, or with `unless`
    `StateStore.commit_unless`), ready to run in the store's thread."""
    data = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    lease = lease_owner.get()
    owner = None if lease is None else lease.owner
    args = (
        instance_id,
        header.seq - 1,
        header,
        data.encode("utf-8", "surrogatepass"),
        list(state.get("consumed_events") or ()),
        [_json_line(entry) for entry in history],
    )
    # owner only when leased, so that a store written before leases keeps working
    leased: dict[str, Any] = {} if owner is None else {"owner": owner}
    if unless is not None:
        return functools.partial(store.commit_unless, *args, unless=unless, **leased)
    return functools.partial(store.commit, *args, **leased)


def _committed(instance_id: str, header: InstanceHeader, saved: bool) -> None:
    lease = lease_owner.get()
    if saved and lease is not None and lease.instance_id == instance_id:
        lease.settled = header.status != "running"
    if not saved:
        raise ConcurrentResumeError(
            f"instance {instance_id!r}: another run saved it since this run loaded "
            f"checkpoint {header.seq - 1}; this run stopped without saving. Call the instance "
            "again to continue from its newest checkpoint"
        )


def _json_line(entry: dict[str, Any]) -> bytes:
    text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.encode("utf-8", "surrogatepass")
