"""What the engine needs to know of primitives: their base class, and how a resolved wait
becomes the value (or the exception) of the await that waited on it.

A `Primitive` is something a durable function awaits that the engine runs itself rather than
as a plain coroutine (`durable.wait_for_event`, `durable.sleep`, a step, `durable.gather`).
The generated code hands every awaited call to its frame (`FrameProtocol.call`); the frame
gives a primitive the frame and the arguments (`Primitive.reach`). When an instance resumes at
such a call point, the frame's `resume` takes the value from `deliver` instead.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._model import ChildrenWait, EventWait, Wait
from .._model._codec import DecodeError, decoding
from ..errors import EventTimeoutError, InstanceCancelledError, SnapshotValidationError
from ._resolve import Resolved

if TYPE_CHECKING:
    from ._engine import _Frame

__all__ = ["CHILDREN", "Primitive", "cancellation", "deliver", "event_payload", "timed_out"]


class Primitive:
    """Base of what the engine runs itself when a durable function awaits it.

    A primitive has a saved name (``name``, "module:qualname", like a program) and the
    attributes a saved frame records (``fingerprint``, ``version``, ``filename``, ``lineno``),
    so that a finished one can be saved as a finished frame of the call stack.
    """

    name: str
    fingerprint: str = "primitive"
    version: str | None = None
    filename: str = "<durable>"
    lineno: int = 0
    points: tuple[Any, ...] = ()
    start_live: tuple[str, ...] = ()

    async def reach(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run at the call point `frame` stands at; return the await's value."""
        raise NotImplementedError

    async def resume_frame(
        self, frame: _Frame, values: dict[str, Any], delivery: tuple[Wait, Resolved] | None
    ) -> Any:
        """Continue a saved frame of this primitive (a step between attempts)."""
        raise NotImplementedError

    def migration_chain(self, saved_version: str | None) -> list[Any] | None:
        return [] if saved_version == self.version else None


# How the frame waiting on `ChildrenWait` is resumed (driving the children again, or
# cancelling them): set by the module of `durable.gather`.
CHILDREN: list[Callable[[_Frame, ChildrenWait, Resolved], Awaitable[Any]]] = []


async def deliver(frame: _Frame, wait: Wait, resolved: Resolved) -> Any:
    """The value the await of `wait` takes now that it resolved (or what it raises)."""
    run = frame.run
    instance_id = run.instance_id
    if resolved.how == "cancelled":
        run.note("cancel.delivered", frame.program, frame.point, wait=wait.kind)
    if isinstance(wait, ChildrenWait) and CHILDREN:
        return await CHILDREN[0](frame, wait, resolved)
    if resolved.how == "cancelled":
        raise cancellation(instance_id)
    if resolved.how == "timeout":
        assert isinstance(wait, EventWait)
        deadline = wait.deadline.isoformat() if wait.deadline else None
        run.note(
            "event.timed_out", frame.program, frame.point, event_name=wait.name, deadline=deadline
        )
        raise timed_out(instance_id, wait)
    if resolved.how == "timer":
        run.note("timer.fired", frame.program, frame.point, wake_at=_iso(wait))
    if resolved.how == "event":
        return None if resolved.event is None else event_payload(instance_id, resolved.event)
    return None  # a timer: `sleep` returns None


def event_payload(instance_id: str, event: Any) -> Any:
    """The payload an inbox event carries (None if it carries none), decoded by the codec."""
    try:
        record = json.loads(event.data)
        encoded = record.get("payload") if isinstance(record, dict) else None
        if encoded is None:
            return None
        with decoding() as decoder:
            return decoder.decode(encoded)
    except (ValueError, RecursionError, DecodeError) as e:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the payload of event {event.id!r} ({event.name!r}) "
            f"cannot be read ({e}); the event was left in the inbox"
        ) from None


def _iso(wait: Wait) -> str | None:
    wake_at = getattr(wait, "wake_at", None)
    return None if wake_at is None else str(wake_at.isoformat())


def cancellation(instance_id: str) -> InstanceCancelledError:
    return InstanceCancelledError(f"instance {instance_id!r} was cancelled")


def timed_out(instance_id: str, wait: EventWait) -> EventTimeoutError:
    deadline = wait.deadline.isoformat() if wait.deadline else "?"
    return EventTimeoutError(
        f"instance {instance_id!r}: event {wait.name!r} did not arrive by {deadline}",
        event=wait.name,
        deadline=wait.deadline,
    )
