"""Resolving a wait: "ready with a value" or "blocked on the wait".

Every point where an instance may stop (a pause, and the waits later primitives add) goes
through `resolve`, both when the point is reached and when a paused instance is called
again. A wait that resolves when it is reached is never saved as a pause (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .._model import CANCEL_EVENT, ChildrenWait, EventWait, RetryWait, TimerWait, Wait
from ..stores import InboxEvent

__all__ = ["Resolved", "resolve"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """How a wait was resolved; ``event`` is the inbox event it consumes, if any."""

    how: Literal["event", "timeout", "timer", "retry", "children", "cancelled"]
    event: InboxEvent | None = None


def resolve(
    wait: Wait,
    inbox: Sequence[InboxEvent] | None,
    now: datetime,
    *,
    exclude: Collection[str] = (),
    finished_children: Collection[str] = (),
    resuming: bool = False,
) -> Resolved | None:
    """Resolve `wait` at `now`, or None if it must wait.

    `inbox` is the instance's inbox, or None for a backend that keeps none: then calling a
    paused instance again (`resuming`) is itself the delivery of the awaited event. Events
    whose ids are in `exclude` were consumed already and are never taken again. A
    cancellation in the inbox resolves every wait (as ``"cancelled"``).
    """
    for event in inbox or ():
        if event.name == CANCEL_EVENT and event.id not in exclude:
            return Resolved("cancelled", event)
    if isinstance(wait, EventWait):
        if inbox is None:
            if resuming:
                return Resolved("event")
        else:
            for event in inbox:
                if event.name == wait.name and event.id not in exclude:
                    return Resolved("event", event)
        if wait.deadline is not None and wait.deadline <= now:
            return Resolved("timeout")
        return None
    if isinstance(wait, TimerWait):
        return Resolved("timer") if wait.wake_at <= now else None
    if isinstance(wait, RetryWait):
        return Resolved("retry") if wait.next_attempt_at <= now else None
    assert isinstance(wait, ChildrenWait)
    done = [c for c in wait.ids if c in finished_children]
    if len(done) == len(wait.ids) if wait.mode == "all" else done:
        return Resolved("children")
    return None
