"""Helpers for testing code that uses durable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import _tracing
from .stores import InMemoryStateStore

__all__ = ["InMemoryStateStore", "capture_events"]


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
