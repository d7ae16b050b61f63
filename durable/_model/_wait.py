"""What a paused instance waits on: one frozen, discriminated union of values.

A wait is saved in the snapshot (``Snapshot.wait``) and summarised in the instance header
(`durable._model.header_of`), so that a store can tell from the header alone whether the wait
can be resolved now (`durable.stores.StateStore.ready`). Every datetime is timezone-aware UTC.

Invariant: a wait that can be resolved at the moment it is reached (an event already
published, a timer already due, a retry already due, children already finished) is never saved
as a pause: the runtime resolves it and goes on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, TypeAlias

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# Aware, and in UTC with the standard library's `UTC` (pydantic's parser would give its own
# tzinfo type, which the value codec rightly refuses to save).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda moment: moment.astimezone(UTC))]

__all__ = [
    "CANCEL_EVENT",
    "ChildrenWait",
    "EventWait",
    "RetryWait",
    "TimerWait",
    "Wait",
    "wait_events",
    "wait_wake_at",
]


# The inbox event `backend.cancel` publishes: it resolves any wait (as a cancellation), so
# every store's `ready()` treats an instance with one in its inbox as ready. Reserved.
CANCEL_EVENT = "durable:cancel"


class _WaitModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventWait(_WaitModel):
    """Waits for the next published event called `name`; gives up at `deadline` if set."""

    kind: Literal["event"] = "event"
    name: str
    deadline: UtcDatetime | None = None


class TimerWait(_WaitModel):
    """Waits until `wake_at` (a durable sleep)."""

    kind: Literal["timer"] = "timer"
    wake_at: UtcDatetime


class RetryWait(_WaitModel):
    """A step failed attempt `attempt`; the next attempt runs at `next_attempt_at`."""

    kind: Literal["retry"] = "retry"
    step: str
    attempt: int = Field(ge=1)
    next_attempt_at: UtcDatetime
    key: str = ""  # the step's idempotency key, the same for every attempt


class ChildrenWait(_WaitModel):
    """Waits for child instances: all of them (``"all"``) or the first to finish."""

    kind: Literal["children"] = "children"
    ids: tuple[str, ...]
    mode: Literal["all", "first"] = "all"


Wait: TypeAlias = Annotated[
    EventWait | TimerWait | RetryWait | ChildrenWait, Field(discriminator="kind")
]


def wait_events(wait: Wait | None) -> tuple[str, ...]:
    """The event names whose arrival resolves `wait`."""
    return (wait.name,) if isinstance(wait, EventWait) else ()


def wait_wake_at(wait: Wait | None) -> datetime | None:
    """When `wait` resolves by time alone: a timer, an event's deadline, a retry's next try."""
    if isinstance(wait, EventWait):
        return wait.deadline
    if isinstance(wait, TimerWait):
        return wait.wake_at
    if isinstance(wait, RetryWait):
        return wait.next_attempt_at
    return None
