"""What the pages show, gathered from a store through the `StateStore` contract alone.

Every function here reads; none writes, and none runs durable code: snapshots are read by
the one reader (`read_snapshot`, which validates and never executes), values are decoded by
the codec (which constructs only allowed classes). The list page reads headers
(`StateStore.list_headers`); it parses a snapshot only for a paused row whose header cannot
tell a timer from a step retry (both are a wake time), so a page costs at most its own rows.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import JsonValue

from durable._model import (
    ChildrenWait,
    DecodedValue,
    EventWait,
    InstanceHeader,
    RetryWait,
    Snapshot,
    TimerWait,
    Wait,
    decode_values,
    read_snapshot,
)
from durable._model._codec import DecodeError, Decoder
from durable.errors import DurableError, StoreError
from durable.stores import StateStore

__all__ = ["InstanceView", "Row", "instance_view", "list_rows"]

CHILDREN_COUNTED = 50  # a list row counts finished children only up to this many
CHILDREN_SHOWN = 200  # the instance page lists at most this many children
VALUE_CHARS = 2000  # a shown value is cut to this many characters

_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = 400
_REPR.maxother = 400
_REPR.maxlong = 80
for _attr in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_REPR, _attr, 30)


def when(moment: datetime | str | None) -> str:
    """A moment in UTC to the second, ``2026-11-29 09:30:00Z``; text that is no moment as is."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        try:
            return when(datetime.fromisoformat(moment))
        except ValueError:
            return moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.isoformat(sep=" ", timespec="seconds").replace("+00:00", "Z")


def clip(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def raw_json(data: JsonValue, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    return clip(json.dumps(data, ensure_ascii=False, indent=indent, separators=separators))


# ------------------------------------------------------------------------------------------
# The list page
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    instance_id: str
    status: str
    program: str
    waiting: str  # what it waits for, in a few words; "" when it waits for nothing
    updated: str
    seq: str


def list_rows(
    store: StateStore, status: str | None, program: str | None, after: str | None, limit: int
) -> tuple[list[Row], bool]:
    """One page of rows and whether another page follows."""
    page = store.list_headers(status=status, program=program, after=after, limit=limit + 1)
    rows = [_row(store, instance_id, header) for instance_id, header in page[:limit]]
    return rows, len(page) > limit


def _row(store: StateStore, instance_id: str, header: InstanceHeader | None) -> Row:
    if header is None:
        return Row(instance_id, "corrupt", "-", "no readable header", "-", "-")
    waiting = _waiting_of_header(store, instance_id, header) if header.status == "paused" else ""
    return Row(
        instance_id,
        header.status,
        header.program,
        waiting,
        when(header.updated_at),
        str(header.seq),
    )


def _waiting_of_header(store: StateStore, instance_id: str, header: InstanceHeader) -> str:
    if header.events:
        names = ", ".join(header.events)
        return f"event {names}" + (f" until {when(header.wake_at)}" if header.wake_at else "")
    if header.children:
        return _children_text(store, header.children, header.children_mode)
    if header.wake_at is not None:
        # A timer and a step retry both save only a wake time in the header.
        snapshot = _snapshot_or_none(store, instance_id)
        if snapshot is not None and snapshot.wait is not None:
            return waiting_text(store, snapshot.wait)
        return f"timer or retry until {when(header.wake_at)}"
    return "nothing it can name (a wait without a header entry)"


def _children_text(store: StateStore, children: tuple[str, ...], mode: str) -> str:
    counted = children[:CHILDREN_COUNTED]
    done = sum(1 for child in counted if _finished(store, child))
    more = "+" if len(children) > CHILDREN_COUNTED else ""
    return f"children: {done}{more} of {len(children)} done (mode {mode})"


def _finished(store: StateStore, instance_id: str) -> bool:
    try:
        header = store.read_header(instance_id)
    except StoreError:
        return False
    return header is not None and header.status in ("completed", "failed", "cancelled")


def waiting_text(store: StateStore, wait: Wait) -> str:
    """A wait in a few words, from the snapshot (which knows its kind)."""
    if isinstance(wait, EventWait):
        return f"event {wait.name}" + (f" until {when(wait.deadline)}" if wait.deadline else "")
    if isinstance(wait, TimerWait):
        return f"timer until {when(wait.wake_at)}"
    if isinstance(wait, RetryWait):
        attempt = wait.attempt + 1
        return f"retry of step {wait.step} (attempt {attempt}) at {when(wait.next_attempt_at)}"
    assert isinstance(wait, ChildrenWait)
    return _children_text(store, wait.ids, wait.mode)


def _snapshot_or_none(store: StateStore, instance_id: str) -> Snapshot | None:
    try:
        data = store.load(instance_id)
        return None if data is None else read_snapshot(instance_id, data)
    except DurableError:
        return None


# ------------------------------------------------------------------------------------------
# The instance page
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A value as shown: its text, the type name, and why it is raw JSON if it is."""

    text: str
    type_name: str = ""
    problem: str | None = None


@dataclass(frozen=True)
class FrameView:
    number: int
    function: str
    filename: str
    lineno: int
    state: str  # "resume point 3 (after_x)", "returned", "raised"
    outcome_value: Value | None
    locals: list[tuple[str, Value]]


@dataclass(frozen=True)
class Link:
    instance_id: str
    status: str


@dataclass(frozen=True)
class InboxItem:
    name: str
    published: str
    payload: Value | None


@dataclass(frozen=True)
class HistoryItem:
    at: str
    kind: str
    seq: str
    details: list[tuple[str, str]]


@dataclass
class InstanceView:
    instance_id: str
    header: InstanceHeader | None
    snapshot: Snapshot | None = None
    error: str | None = None  # why the snapshot cannot be shown
    status: str = "corrupt"
    program: str = "-"
    waiting: str = ""
    wait_details: list[tuple[str, str]] = field(default_factory=list)
    frames: list[FrameView] = field(default_factory=list)
    result: Value | None = None
    failure: Value | None = None
    decode_failures: list[str] = field(default_factory=list)
    inbox: list[InboxItem] = field(default_factory=list)
    children: list[Link] = field(default_factory=list)
    parent: Link | None = None
    history: list[HistoryItem] = field(default_factory=list)
    history_error: str | None = None


def instance_view(store: StateStore, instance_id: str) -> InstanceView | None:
    """Everything the instance page shows; None if the store has no such instance."""
    stored = store.read(instance_id)
    if stored.data is None:
        return None
    view = InstanceView(instance_id, stored.header)
    if stored.header is not None:
        view.status, view.program = stored.header.status, stored.header.program
    try:
        view.snapshot = read_snapshot(instance_id, stored.data)
    except DurableError as e:
        view.error = str(e)
    if view.snapshot is not None:
        _fill_from_snapshot(store, view, view.snapshot)
        consumed = set(view.snapshot.consumed_events)
        view.inbox = [_inbox_item(e.name, e.data) for e in stored.inbox if e.id not in consumed]
    else:
        view.inbox = [_inbox_item(e.name, e.data) for e in stored.inbox]
    view.children = _children(store, view)
    parent = view.snapshot.parent if view.snapshot else getattr(stored.header, "parent", None)
    view.parent = None if parent is None else Link(parent, _status_of(store, parent))
    _fill_history(store, view)
    return view


def _fill_from_snapshot(store: StateStore, view: InstanceView, snapshot: Snapshot) -> None:
    program = snapshot.program
    view.status = snapshot.status
    view.program = program.qualname + (f" (version {program.version})" if program.version else "")
    if snapshot.status == "paused" and snapshot.wait is not None:
        view.waiting = waiting_text(store, snapshot.wait)
        view.wait_details = _wait_details(snapshot.wait)
    values = decode_values(snapshot)
    view.decode_failures = values.failures
    for n, (frame, decoded) in enumerate(
        zip(snapshot.call_stack.frames, values.frames, strict=True)
    ):
        running = frame.outcome == "running"
        state = (
            f"resume point {frame.resume_point} ({frame.point_name})" if running else frame.outcome
        )
        view.frames.append(
            FrameView(
                n,
                frame.function,
                frame.filename,
                frame.lineno,
                state,
                None if running else _value(decoded.value),
                [(name, _value(value)) for name, value in decoded.locals],
            )
        )
    if snapshot.status == "completed":
        view.result = _value(values.result)
    if snapshot.status in ("failed", "cancelled"):
        view.failure = _value(values.error)


def _wait_details(wait: Wait) -> list[tuple[str, str]]:
    if isinstance(wait, EventWait):
        return [
            ("event", wait.name),
            ("deadline", when(wait.deadline) if wait.deadline else "none"),
        ]
    if isinstance(wait, TimerWait):
        return [("timer wakes at", when(wait.wake_at))]
    if isinstance(wait, RetryWait):
        return [
            ("step", wait.step),
            ("failed attempts", str(wait.attempt)),
            ("next attempt at", when(wait.next_attempt_at)),
        ]
    assert isinstance(wait, ChildrenWait)
    return [("children", str(len(wait.ids))), ("mode", wait.mode)]


def _value(decoded: DecodedValue) -> Value:
    if decoded.problem is not None:
        return Value(raw_json(decoded.raw, indent=1), "raw tagged JSON", decoded.problem)
    return Value(clip(_REPR.repr(decoded.value)), type(decoded.value).__qualname__)


def _inbox_item(name: str, data: bytes) -> InboxItem:
    try:
        record = json.loads(data)
    except ValueError:
        return InboxItem(name, "-", Value(clip(repr(data)), "bytes", "not JSON"))
    if not isinstance(record, dict):
        return InboxItem(name, "-", Value(raw_json(record), "JSON", "not an event record"))
    payload = None
    if "payload" in record:
        try:
            value = Decoder().decode(record["payload"])
            payload = Value(clip(_REPR.repr(value), 300), type(value).__qualname__)
        except DecodeError as e:
            payload = Value(clip(raw_json(record["payload"]), 300), "raw tagged JSON", str(e))
    return InboxItem(name, when(record.get("published_at")), payload)


def _status_of(store: StateStore, instance_id: str) -> str:
    try:
        header = store.read_header(instance_id)
    except StoreError:
        return "corrupt"
    return "not stored" if header is None else header.status


def _children(store: StateStore, view: InstanceView) -> list[Link]:
    """The children the instance waits for, then those named after it (``"<id>/..."``, as
    `durable.gather` names them) whose header says it is their parent."""
    wait = view.snapshot.wait if view.snapshot is not None else None
    ids = list(wait.ids) if isinstance(wait, ChildrenWait) else []
    prefix = view.instance_id + "/"
    for child, header in store.list_headers(after=prefix, limit=CHILDREN_SHOWN):
        if not child.startswith(prefix):
            break
        if header is not None and header.parent == view.instance_id and child not in ids:
            ids.append(child)
    return [Link(child, _status_of(store, child)) for child in ids[:CHILDREN_SHOWN]]


def _fill_history(store: StateStore, view: InstanceView) -> None:
    try:
        lines = store.read_history(view.instance_id)
    except StoreError as e:
        view.history_error = str(e)
        return
    view.history = [_history_item(line) for line in lines]


_HISTORY_KEYS = ("at", "kind", "seq")


def _history_item(line: bytes) -> HistoryItem:
    try:
        entry: Any = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        return HistoryItem("-", "unreadable entry", "-", [("raw", clip(repr(line), 300))])
    details = [(key, _detail(value)) for key, value in entry.items() if key not in _HISTORY_KEYS]
    seq = entry.get("seq")
    return HistoryItem(
        when(entry.get("at")) if isinstance(entry.get("at"), str) else "-",
        str(entry.get("kind", "-")),
        "-" if seq is None else str(seq),
        details,
    )


def _detail(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return clip(text, 300)
