"""The clock: where every timestamp and every deadline the library writes comes from.

The runtime asks its backend's clock (``backend.clock``; the system clock by default), so a
test can hand the backend a clock it moves by hand and run a month of timers in milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Tells the time. `now` returns a timezone-aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
