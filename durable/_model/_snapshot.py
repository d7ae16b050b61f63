"""The on-disk contract: a versioned, validated snapshot of one durable instance.

Every snapshot is a `Snapshot` envelope serialised to JSON. Live values (locals, results,
exceptions) are stored in the codec's tagged JSON (`durable._model._codec`); the envelope itself is
plain Pydantic. One codec object table spans the whole snapshot, in a fixed order (frames from
the root outwards, each frame's locals in order, then its value; then the instance result and
error), so a list shared by two frames is still one list after loading.

Invariant: `seq` grows by one with every save of an instance; `format_version` names the schema
this module writes (older versions are migrated forward on load when a later format exists).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from ._header import Status
from ._wait import Wait

__all__ = [
    "FORMAT_VERSION",
    "CallStack",
    "FunctionCall",
    "ProgramIdentity",
    "Snapshot",
    "Status",
    "upgrade",
]

FORMAT_VERSION: Literal[2] = 2


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FunctionCall(_Model):
    """One frame of the call stack: a durable function stopped at a resume point.

    ``resume_point`` 0 is the function's start (``locals`` then hold its arguments); any other
    value is a point the function passed, to continue right after it. A frame whose ``outcome``
    is not ``"running"`` is a nested call that already finished; ``value`` holds what it returned
    or raised, handed to its caller on resume without running it again.
    """

    function: str  # "module:qualname"
    fingerprint: str
    version: str | None = None  # the function's make_durable(version=...)
    resume_point: int
    point_name: str = "start"  # stable across edits: how changed code finds the point
    point_peers: int = 1  # points sharing its unnumbered name when saved (see _versioning)
    filename: str  # where the function is defined, for people reading the snapshot
    lineno: int  # the line of the resume point (of the ``def`` for point 0)
    locals: dict[str, JsonValue]
    outcome: Literal["running", "returned", "raised"] = "running"
    value: JsonValue = None


class CallStack(_Model):
    """The frames of a paused instance, from the root call to the innermost one."""

    frames: list[FunctionCall]


class ProgramIdentity(_Model):
    """Which code wrote the snapshot."""

    qualname: str  # "module:qualname" of the root durable function
    fingerprint: str
    version: str | None = None


class Snapshot(_Model):
    """Everything needed to continue (or answer for) one instance."""

    format_version: Literal[2] = FORMAT_VERSION
    instance_id: str
    program: ProgramIdentity
    seq: int
    status: Status
    call_stack: CallStack
    wait: Wait | None = None  # what a paused instance waits on
    parent: str | None = None  # the instance that started this one (fan-out)
    result: JsonValue = None
    error: JsonValue = None
    consumed_events: list[str] = []
    created_at: datetime
    updated_at: datetime


def _format_1_to_2(state: dict[str, Any]) -> dict[str, Any]:
    """Format 2 replaced the awaited event's name (``waiting_for``) by a wait value."""
    state = dict(state)
    name = state.pop("waiting_for", None)
    state["wait"] = {"kind": "event", "name": name} if isinstance(name, str) else None
    state["format_version"] = 2
    return state


# Format N -> N+1 steps, each a pure function on the raw JSON dict. Every released format
# keeps its step forever; tests/golden/ holds a snapshot of each format that must still load.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _format_1_to_2}


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """Bring a saved state of an older format to `FORMAT_VERSION`, one step at a time.

    Raises KeyError for a version with no known path (newer than this library, or unknown).
    """
    version = state.get("format_version")
    while version != FORMAT_VERSION:
        if not isinstance(version, int):
            raise KeyError(version)
        state = UPGRADES[version](state)
        version = state.get("format_version")
    return state
