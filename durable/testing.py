"""Helpers for testing code that uses durable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from . import _tracing
from .errors import InvalidWaitError
from .stores import InMemoryStateStore

__all__ = ["InMemoryStateStore", "VirtualClock", "capture_events"]


class VirtualClock:
    """A clock that moves only when told: hand it to ``DurableBackend(store, clock=...)`` and a
    test of a 30-day sleep or a 2-day timeout runs in milliseconds.

    `now` starts at `start` (an aware datetime; by default 2030-01-01 UTC, far from today so
    that nothing mistakes it for the system clock) and moves forward by `advance`.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start if start is not None else datetime(2030, 1, 1, tzinfo=UTC)
        if start.utcoffset() is None:
            raise InvalidWaitError(f"VirtualClock needs a timezone-aware start, not {start!r}")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, by: float | timedelta) -> datetime:
        """Move the clock forward by `by` (seconds or a timedelta); return the new time."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise InvalidWaitError(f"a VirtualClock only moves forward, not by {by!r}")
        self._now += timedelta(seconds=seconds)
        return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()})"


@contextlib.contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """Collect durable's structured events emitted inside the block, oldest first.

    Each event is a dict with an ``"event"`` key (its name, see ``durable.EVENTS``) and the
    event's fields. Works whether or not structlog or logging are configured.
    """
    events: list[dict[str, Any]] = []
    _tracing.captures.append(events)
    try:
        yield events
    finally:
        _tracing.captures.remove(events)
