"""Waits a durable function awaits: events with payloads and timeouts, durable timers.

``await durable.wait_for_event(name, timeout=...)`` and ``await durable.sleep(...)`` are call
points like any awaited call; the frame hands them the frame (`Primitive.reach`), and they
resolve their wait there or save the pause. When the instance resumes, the value comes from
the resolved wait (`durable._runtime._waits.deliver`): the payload, None, or the timeout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._model import EventWait, TimerWait
from ..errors import InvalidWaitError
from ._waits import Primitive, deliver

if TYPE_CHECKING:
    from ._engine import _Frame

__all__ = ["seconds_of", "sleep", "sleep_until", "wait_for_event"]


def seconds_of(value: object, what: str) -> float:
    """A positive duration in seconds from `value` (seconds as a number, or a timedelta)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidWaitError(f"{what} is seconds (a number) or a timedelta, not {value!r}")
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidWaitError(f"{what} must be a positive, finite duration, not {value!r}")
    return seconds


class _WaitForEvent(Primitive):
    name = "durable:wait_for_event"

    def __call__(self, name: str, *, timeout: float | timedelta | None = None) -> Any:
        """``value = await durable.wait_for_event(name, timeout=None)`` inside a durable
        function: the payload of the next event called `name` published to the instance.

        `timeout` is seconds or a `timedelta`; when it passes first, `EventTimeoutError` is
        raised at the wait. Outside a durable function there is nothing to wait for.
        """
        return _outside(self.name)

    async def reach(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name, timeout = _event_arguments(*args, **kwargs)
        deadline = None
        if timeout is not None:
            deadline = frame.run.backend.clock.now() + timedelta(seconds=timeout)
        wait = EventWait(name=name, deadline=deadline)
        return await deliver(frame, wait, await frame.wait(wait))


def _event_arguments(
    name: object, *, timeout: float | timedelta | None = None
) -> tuple[str, float | None]:
    if not isinstance(name, str):
        raise InvalidWaitError(f"event names are strings, not {type(name).__name__}: {name!r}")
    return name, None if timeout is None else seconds_of(timeout, "timeout")


class _Sleep(Primitive):
    name = "durable:sleep"

    def __call__(self, duration: float | timedelta) -> Any:
        """``await durable.sleep(seconds_or_timedelta)`` inside a durable function: a durable
        timer. The wake-up time is saved; a call before it raises `Suspended` without running
        anything, and one after it (in any process) continues at once."""
        return _outside(self.name)

    async def reach(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        (duration,) = (*args, *kwargs.values())
        seconds = seconds_of(duration, "the duration of sleep")
        wake_at = frame.run.backend.clock.now() + timedelta(seconds=seconds)
        return await _timer(frame, TimerWait(wake_at=wake_at))


class _SleepUntil(Primitive):
    name = "durable:sleep_until"

    def __call__(self, moment: datetime) -> Any:
        """``await durable.sleep_until(aware_datetime)``: a durable timer until `moment` (one
        in the past continues at once)."""
        return _outside(self.name)

    async def reach(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        (moment,) = (*args, *kwargs.values())
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            raise InvalidWaitError(
                f"sleep_until needs a timezone-aware datetime (e.g. datetime.now(UTC) + ...), "
                f"not {moment!r}"
            )
        return await _timer(frame, TimerWait(wake_at=moment))


async def _timer(frame: _Frame, wait: TimerWait) -> Any:
    frame.run.note("timer.set", frame.program, frame.point, wake_at=wait.wake_at.isoformat())
    return await deliver(frame, wait, await frame.wait(wait))


def _outside(name: str) -> Any:
    async def refuse() -> Any:
        raise InvalidWaitError(
            f"{name.replace(':', '.')} can only be awaited inside a durable function "
            "(one made by make_durable), where the wait can be saved"
        )

    return refuse()


wait_for_event = _WaitForEvent()
sleep = _Sleep()
sleep_until = _SleepUntil()
