"""Structured events for every step of every instance.

Each event has a stable name (the table in `EVENTS`, also in the README) and carries
``instance_id``, ``program``, ``function``, ``point`` (the resume point), ``seq`` and, where it
measures something, ``duration_ms``.

Where events go, without the library ever configuring logging globally:

* through ``structlog.get_logger("durable")`` if the application configured structlog, so its
  processors see them and ``structlog.testing.capture_logs()`` captures them;
* otherwise through the stdlib logger ``durable`` (silent unless the application enables it),
  with the fields as ``extra`` on the record;
* and to every `durable.testing.capture_events` block that is open.

The rule for "configured" (`_structlog_configured`): ``structlog.is_configured()`` is true
and the configuration is not exactly structlog's built-in defaults, compared by identity
(its default processors, wrapper class, context class, ``PrintLoggerFactory`` and caching).
So ``structlog.configure(processors=[...])`` counts, also with the default stdout logger
factory, and so does an open ``capture_logs()`` block. What does not count is the state
``capture_logs()`` leaves behind when structlog was unconfigured before it: it restores the
processors by calling ``configure()``, which sets ``is_configured()`` without changing any
setting. A bare ``structlog.configure()`` with no arguments leaves the very same state and
is therefore treated the same way (structlog itself behaves identically in both states:
there is nothing to tell them apart by). The built-in defaults are structlog's private
``structlog._config._BUILTIN_*`` objects; should a structlog release drop them, the rule
falls back to ``structlog.is_configured()`` alone.

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
    "instance.paused": "the instance saved a pause: `event_name` (and `deadline`) or `wait`",
    "event.published": "an event was stored in an instance's inbox",
    "event.consumed": "a pause took its event from the inbox",
    "call.entered": "a nested durable call started (`function` is the callee)",
    "call.returned": "a nested durable call returned or raised (`outcome`)",
    "instance.completed": "the instance returned; its result is saved",
    "instance.failed": "the instance raised; its exception is saved",
    "instance.cancel_requested": "backend.cancel recorded a cancellation in the inbox",
    "instance.cancelled": "a cancellation escaped the instance; it ends as cancelled",
    "instance.retried": "an operator put a failed instance back at a good checkpoint (`from_seq`)",
    "instance.edited": "an operator changed live values or a resume point (`changes`, `by`, `why`)",
    "instance.forked": "an instance was copied to a new one (`origin`, `origin_seq`, `fork`)",
    "instance.deleted": "an instance and all it stored were deleted (`by`, `reason`, `force`)",
    "timer.set": "a durable timer was set (`wake_at`)",
    "timer.fired": "a durable timer's time came; the instance goes on",
    "event.timed_out": "a wait's timeout passed first: EventTimeoutError at the wait",
    "cancel.delivered": "a cancellation was raised at a wait (`wait`)",
    "step.started": "an attempt of a step starts (`step`, `attempt`)",
    "step.failed": "an attempt raised (`error`; `final` when no retry follows)",
    "step.retry_scheduled": "the next attempt waits on a durable timer (`at`)",
    "step.completed": "a step returned; its result is saved with this checkpoint",
    "children.started": "durable.gather started its children (`children`)",
    "children.finished": "every child of a gather finished",
    "snapshot.upgraded": "warning: a frame saved by other code resumes under the current code",
    "migration.applied": "warning: user migrations rewrote a saved frame for the current code",
    "listener.failed": "warning: a backend listener (a worker's wake-up) raised; ignored",
    "worker.started": "a Worker started (`programs`, `concurrency`)",
    "worker.stopped": "a Worker stopped (`running`, `waiting`, `completed`, `failed`)",
    "worker.instance_failed": "a run by a Worker raised (`error`); the worker goes on",
    "worker.instance_skipped": "a ready instance runs a program the Worker does not run",
    "worker.race_lost": "debug: another process resumed the instance first; skipped",
    "worker.store_error": "warning: a store failed under a Worker; retried (`retry_in`)",
    "worker.instance_leased": "debug: another worker holds the instance's lease; skipped",
    "worker.lease_lost": "warning: a lease could not be renewed: another worker took over",
    "program.unstable_name": (
        "warning: a program of a script run as __main__ has no importable name; a worker "
        "in another process will not find it: pass make_durable(fn, name=...)"
    ),
    "instance.rehomed": "durable.rehome renamed its saved `__main__` references (`from`, `to`)",
    "store.listen_lost": "warning: a store's LISTEN connection failed; reopened (`retry_in`)",
    "store.listen_restored": "a store's LISTEN connection is back after a loss",
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


def _builtin_defaults() -> tuple[object, ...] | None:
    """structlog's built-in configuration, as `_settings` shows it; None if not exposed."""
    from structlog import _config

    names = (
        "_BUILTIN_DEFAULT_PROCESSORS",
        "_BUILTIN_DEFAULT_WRAPPER_CLASS",
        "_BUILTIN_DEFAULT_CONTEXT_CLASS",
        "_BUILTIN_DEFAULT_LOGGER_FACTORY",
        "_BUILTIN_CACHE_LOGGER_ON_FIRST_USE",
    )
    if not all(hasattr(_config, name) for name in names):
        return None
    processors, *rest = (getattr(_config, name) for name in names)
    return (*processors, *rest)


def _settings() -> tuple[object, ...]:
    config = structlog.get_config()
    return (
        *config["processors"],
        config["wrapper_class"],
        config["context_class"],
        config["logger_factory"],
        config["cache_logger_on_first_use"],
    )


_BUILTIN = _builtin_defaults()


def _structlog_configured() -> bool:
    """Has the application configured structlog? (The rule is in the module docstring.)"""
    if not structlog.is_configured():
        return False
    if _BUILTIN is None:
        return True
    current = _settings()
    if len(current) != len(_BUILTIN):
        return True
    return any(a is not b for a, b in zip(current, _BUILTIN, strict=True))


def emit(event: str, *, level: str = "info", **fields: Any) -> None:
    """Send one event to its destinations (see the module docstring)."""
    for capture in captures:
        capture.append({"event": event, "level": level, **fields})
    if _structlog_configured():
        getattr(structlog.get_logger("durable"), level)(event, **fields)
    elif _stdlib.isEnabledFor(logging.getLevelName(level.upper())):
        getattr(_fallback, level)(event, **fields)
