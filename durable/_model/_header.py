"""The instance header: a small typed record the runtime derives from every snapshot it saves.

Stores keep it next to the opaque snapshot bytes (as columns, or a line of JSON in a journal
record) and never parse it back out of those bytes. It is everything a store needs to answer
"which instances can continue now" (`durable.stores.StateStore.ready`), to compare-and-set a
save (`seq`) and to list instances, without reading a snapshot.

Datetimes are timezone-aware UTC. ``lease_owner``/``lease_until`` are kept for workers that
claim instances (a later step); the runtime leaves them empty today.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

from ._wait import CANCEL_EVENT

__all__ = ["FINISHED", "STATUSES", "InstanceHeader", "Status", "is_ready"]

Status: TypeAlias = Literal["running", "paused", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("running", "paused", "completed", "failed", "cancelled")
FINISHED: frozenset[str] = frozenset(("completed", "failed", "cancelled"))


@dataclass(frozen=True, slots=True)
class InstanceHeader:
    """What a store knows about an instance without reading its snapshot."""

    seq: int  # the checkpoint number of the snapshot beside it; grows by one per save
    status: Status
    program: str  # "module:qualname" of the root durable function
    created_at: datetime
    updated_at: datetime
    events: tuple[str, ...] = ()  # event names whose arrival resolves the wait
    wake_at: datetime | None = None  # when the wait resolves by time alone
    children: tuple[str, ...] = ()  # child instances the wait is for
    children_mode: Literal["all", "first"] = "all"
    parent: str | None = None  # the instance that started this one (fan-out)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys of a newer writer

    def to_json(self) -> bytes:
        """Compact JSON, one line: what stores write beside the snapshot."""
        data: dict[str, Any] = {
            "seq": self.seq,
            "status": self.status,
            "program": self.program,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if self.events:
            data["events"] = list(self.events)
        if self.wake_at is not None:
            data["wake_at"] = self.wake_at.isoformat()
        if self.children:
            data["children"] = list(self.children)
            data["children_mode"] = self.children_mode
        for key in ("parent", "lease_owner"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.lease_until is not None:
            data["lease_until"] = self.lease_until.isoformat()
        data.update(self.extra)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> InstanceHeader:
        """The header `to_json` wrote; raises ValueError for anything else."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("an instance header is a JSON object")
        known = {
            "seq", "status", "program", "created_at", "updated_at", "events", "wake_at",
            "children", "children_mode", "parent", "lease_owner", "lease_until",
        }  # fmt: skip
        try:
            header = cls(
                seq=_int(data["seq"]),
                status=_status(data["status"]),
                program=_str(data["program"]),
                created_at=_when(data["created_at"]),
                updated_at=_when(data["updated_at"]),
                events=tuple(_str(e) for e in data.get("events", ())),
                wake_at=_when_or_none(data.get("wake_at")),
                children=tuple(_str(c) for c in data.get("children", ())),
                children_mode="first" if data.get("children_mode") == "first" else "all",
                parent=_str_or_none(data.get("parent")),
                lease_owner=_str_or_none(data.get("lease_owner")),
                lease_until=_when_or_none(data.get("lease_until")),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"an invalid instance header ({e})") from None
        return header


def is_ready(
    header: InstanceHeader,
    now: datetime,
    inbox_names: Collection[str],
    finished_children: Collection[str] = (),
) -> bool:
    """Whether a paused instance's wait can be resolved now, from its header alone.

    `inbox_names` are the names of the events in its inbox; `finished_children` the ids of
    its children that have finished. What every store's `ready()` means.
    """
    if header.status != "paused":
        return False
    if CANCEL_EVENT in inbox_names:
        return True
    if header.wake_at is not None and header.wake_at <= now:
        return True
    if header.events and any(name in inbox_names for name in header.events):
        return True
    if header.children:
        done = [c for c in header.children if c in finished_children]
        return len(done) == len(header.children) if header.children_mode == "all" else bool(done)
    return False


def _int(x: object) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError(f"expected an integer, got {x!r}")
    return x


def _str(x: object) -> str:
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {x!r}")
    return x


def _str_or_none(x: object) -> str | None:
    return None if x is None else _str(x)


def _status(x: object) -> Status:
    for status in STATUSES:
        if x == status:
            return status
    raise TypeError(f"unknown status {x!r}")


def _when(x: object) -> datetime:
    moment = datetime.fromisoformat(_str(x))
    if moment.tzinfo is None:
        raise TypeError(f"a naive datetime {x!r}")
    return moment


def _when_or_none(x: object) -> datetime | None:
    return None if x is None else _when(x)
