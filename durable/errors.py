"""Every exception `durable` raises, in one place.

::

    Exception
     ├── Suspended                     an instance stopped to wait (not an error)
     │    └── PauseForEventException   ... for an event; also what a durable function raises
     └── DurableError                  root of everything that went wrong
          ├── UnsupportedSyntaxError   code the transformer cannot make durable (file, line)
          │    └── NoSourceError       the function's source code cannot be found
          ├── UnserializableStateError a live value cannot be saved (variable, type, function, line)
          ├── SnapshotValidationError  saved state is corrupt or invalid (instance)
          ├── IncompatibleSnapshotError saved state belongs to other code (instance, versions)
          ├── InvalidInstanceIdError   an instance id that is not a string
          ├── StoreError               a store failed to read or write (also an OSError)
          ├── ConcurrentResumeError    another runtime committed the same instance first
          ├── InstanceExistsError      a start names an instance started with other arguments
          ├── InstanceNotFoundError    a resume names an instance that never started
          ├── InvalidWaitError         a bad argument to a primitive (also a ValueError)
          ├── InstanceLeasedError      a maintenance operation met a running (leased) instance
          ├── RepairRefusedError       a retry, edit or fork was refused (nothing written)
          └── RaisedAtWait             raised inside a durable function, at a wait:
               ├── EventTimeoutError        the event did not come in time (also TimeoutError)
               └── InstanceCancelledError   the instance was cancelled

    BaseException
     ├── _Suspend                      internal: unwinds a paused run (never user-visible)
     └── _Abort                        internal: unwinds a run whose checkpoint failed

Invariant: nothing here is raised after state was half-written. A DurableError raised while
saving leaves the last good snapshot in the store untouched.
"""

from __future__ import annotations

from datetime import datetime
from typing import final

__all__ = [
    "EventTimeoutError",
    "InstanceCancelledError",
    "InvalidWaitError",
    "RaisedAtWait",
    "Suspended",
    "ConcurrentResumeError",
    "DurableError",
    "IncompatibleSnapshotError",
    "InstanceExistsError",
    "InstanceLeasedError",
    "InstanceNotFoundError",
    "InvalidInstanceIdError",
    "NoSourceError",
    "RepairRefusedError",
    "PauseForEventException",
    "SnapshotValidationError",
    "StoreError",
    "UnserializableStateError",
    "UnsupportedSyntaxError",
]


class Suspended(Exception):
    """Raised to the caller of a durable program when its instance stops to wait.

    ``instance_id`` names the instance, ``event`` the awaited event name (or None) and
    ``wake_at`` when the wait resolves by time alone (an aware datetime, or None). Calling the
    instance again before anything is ready raises the same again without running its code.
    """

    def __init__(
        self,
        message: str,
        *,
        instance_id: str | None = None,
        event: str | None = None,
        wake_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.instance_id = instance_id
        self.event = event
        self.wake_at = wake_at


class PauseForEventException(Suspended):
    """Raised by a durable function to wait for the event `event`.

    Inside a durable function, ``raise PauseForEventException("name")`` is a checkpoint: the
    runtime saves the live state and the same exception reaches the caller of the durable
    function. Calling again with the same ``instance_id`` after the event was published
    resumes right after the ``raise``.
    """

    event: str

    def __init__(
        self,
        event: str,
        *,
        point: str | None = None,
        instance_id: str | None = None,
        wake_at: datetime | None = None,
    ) -> None:
        super().__init__(event, instance_id=instance_id, event=event, wake_at=wake_at)
        self.point = point  # a stable name for this pause, kept across code edits


class DurableError(Exception):
    """Root of every error raised by `durable` itself."""


class UnsupportedSyntaxError(DurableError):
    """Raised by `make_durable` for code that cannot be made durable; names the file and line."""

    def __init__(self, message: str, *, filename: str = "?", lineno: int = 0) -> None:
        super().__init__(f"{filename}:{lineno}: {message}")
        self.filename = filename
        self.lineno = lineno


class NoSourceError(UnsupportedSyntaxError):
    """Raised by `make_durable` when the function's source code is not available."""


class UnserializableStateError(DurableError, TypeError):
    """Raised when a live value at a checkpoint cannot be saved.

    The message names the instance, the variable, its type, the function and the line. The
    snapshot saved before stays in the store.
    """


class SnapshotValidationError(DurableError):
    """Raised when saved state is corrupt or invalid; the message names the instance."""


class IncompatibleSnapshotError(DurableError):
    """Raised when saved state was written by code other than the code now running."""


class InvalidInstanceIdError(DurableError, ValueError):
    """Raised when an instance id is not a string."""


class StoreError(DurableError, OSError):
    """Raised when a state store cannot read or write."""


class ConcurrentResumeError(DurableError):
    """Raised when another runtime saved the same instance since it was loaded here."""


class InstanceExistsError(DurableError):
    """A start (`Worker.start`, `Worker.execute`) names an instance that exists already and
    was started with other arguments, or by another program; nothing was changed."""


class InstanceNotFoundError(DurableError, LookupError):
    """A resume-only call (`DurableProgram.resume`, `Worker.resume`) names an instance that
    has no saved state."""


class InstanceLeasedError(DurableError):
    """A maintenance operation (`durable.rehome`) found the instance claimed by a running
    worker (its lease has not expired); nothing was changed."""


class RepairRefusedError(DurableError):
    """An operator's repair (`DurableBackend.retry`, ``edit``, ``fork``) was refused: the
    instance is not in a state it applies to, a value is invalid or not live, another writer
    changed it first. The message says which instance and why; nothing was written."""


class InvalidWaitError(DurableError, ValueError):
    """A primitive was given an argument it cannot wait on (a timeout <= 0, a naive datetime,
    something `gather` cannot run); raised where it is called, like any bad argument."""


class RaisedAtWait(DurableError):
    """Base of the errors durable raises *inside* a durable function, at the wait that was
    resolved by them. They behave like exceptions of your own code: ``except`` can handle
    them, and one that escapes the function is saved as the instance's outcome."""


class EventTimeoutError(RaisedAtWait, TimeoutError):
    """The awaited event did not arrive before the wait's timeout (``.event``, ``.deadline``)."""

    def __init__(self, message: str, *, event: str = "", deadline: datetime | None = None):
        super().__init__(message)
        self.event = event
        self.deadline = deadline


class InstanceCancelledError(RaisedAtWait):
    """The instance was cancelled (``backend.cancel``); raised at its current or next wait.

    Your ``except``/``finally`` run and may still take durable steps; if it escapes, the
    instance ends with status ``cancelled``.
    """


@final
class _Suspend(BaseException):
    """Internal: unwinds the Python stack of a durable run that paused.

    A BaseException so that user ``except Exception:`` cannot swallow it; generated code
    re-raises it from bare ``except:`` and skips ``finally`` bodies while it passes. The
    runtime turns it into `Suspended` (`PauseForEventException` for an event) at the API
    boundary. Never construct it outside the runtime.
    """

    def __init__(self, wait: object) -> None:
        super().__init__(wait)
        self.wait = wait  # a `durable._model.Wait`


@final
class _Abort(BaseException):
    """Internal: unwinds a run whose checkpoint failed, past the user's own handlers.

    A failed save must not look like an exception of the user's code at the pause (a user
    ``except Exception:`` would catch it and carry on as if paused or returned). It travels
    like `_Suspend` (``finally`` bodies skipped, broad handlers re-raise it) and the runtime
    raises `error` to the caller at the API boundary, saving nothing.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error
