"""Structured events for every step of every instance.

Each event has a stable name (the table in `EVENTS`, also in the README) and carries
``instance_id``, ``program``, ``function``, ``point`` (the resume point), ``seq`` and, where it
measures something, ``duration_ms``.

Where events go, without the library ever configuring logging globally:

* if the application configured structlog (see `_structlog_configured`), through
  ``structlog.get_logger("durable")``, so its processors see them and
  ``structlog.testing.capture_logs()`` captures them;
* otherwise through the stdlib logger ``durable`` (silent unless the application enables it),
  with the fields as ``extra`` on the record;
* and to every `durable.testing.capture_events` block that is open.

Rejected design: a bare ``structlog.get_logger()`` by default. With structlog unconfigured it
prints to stdout, which a library must never do.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["EVENTS", "emit"]

EVENTS: dict[str, str] = {
    "instance.started": "a new instance saved its arguments and starts running",
    "instance.resumed": "a saved instance continues from its last checkpoint",
    "instance.still_waiting": "a paused instance was called before its event arrived",
    "block.completed": "the code between two checkpoints ran (duration_ms)",
    "checkpoint.saved": "a snapshot was saved (status, duration_ms of the save)",
    "instance.paused": "the instance saved a pause and waits for `event_name`",
    "event.published": "an event was stored in an instance's inbox",
    "event.consumed": "a pause took its event from the inbox",
    "call.entered": "a nested durable call started (`function` is the callee)",
    "call.returned": "a nested durable call returned or raised (`outcome`)",
    "instance.completed": "the instance returned; its result is saved",
    "instance.failed": "the instance raised; its exception is saved",
    "snapshot.upgraded": "warning: a frame saved by other code resumes under the current code",
    "migration.applied": "warning: user migrations rewrote a saved frame for the current code",
}

_stdlib = logging.getLogger("durable")
_stdlib.addHandler(logging.NullHandler())  # a library never prints through logging's lastResort
_fallback = structlog.wrap_logger(
    _stdlib,
    processors=[structlog.stdlib.render_to_log_kwargs],
    wrapper_class=structlog.stdlib.BoundLogger,
)

# Open `capture_events` blocks; module-level so that events from worker threads count too.
captures: list[list[dict[str, Any]]] = []


def _structlog_configured() -> bool:
    """Has the application configured structlog to go somewhere?

    ``structlog.is_configured()`` alone is not enough: ``structlog.testing.capture_logs()``
    leaves it true after it ends, with the default stdout logger factory, and a library must
    not start printing then. So: configured with another logger factory, or capturing now.
    """
    if not structlog.is_configured():
        return False
    config = structlog.get_config()
    if not isinstance(config["logger_factory"], structlog.PrintLoggerFactory):
        return True
    return any(isinstance(p, structlog.testing.LogCapture) for p in config["processors"])


def emit(event: str, *, level: str = "info", **fields: Any) -> None:
    """Send one event to its destinations (see the module docstring)."""
    for capture in captures:
        capture.append({"event": event, "level": level, **fields})
    if _structlog_configured():
        getattr(structlog.get_logger("durable"), level)(event, **fields)
    elif _stdlib.isEnabledFor(logging.getLevelName(level.upper())):
        getattr(_fallback, level)(event, **fields)
