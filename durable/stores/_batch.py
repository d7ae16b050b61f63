"""Group commit: writes from many threads share one transaction (SQL stores).

A writer queues its work (a `Write`) and takes the batch lock; whoever holds the lock takes
every queued write and runs them as one batch (one transaction, each write in a savepoint of
its own), then hands each writer its own result. A writer returns only after the commit that
holds its write; a batch that fails fails each of its writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

__all__ = ["GroupCommit", "Write"]

T = TypeVar("T")
C = TypeVar("C")


class Write(Generic[C, T]):
    """One write waiting for its batch: its body (run on connection type ``C``), then its
    outcome."""

    __slots__ = ("action", "body", "done", "error", "instance_id", "result")

    def __init__(self, action: str, instance_id: str | None, body: Callable[[C], T]) -> None:
        self.action = action
        self.instance_id = instance_id
        self.body = body
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        """The batch failed: this write is not saved, whatever its body returned."""
        self.result = None
        self.error = error

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.result)


class GroupCommit(Generic[C]):
    """The queue and the leader lock of group commit (module docstring). ``run_batch`` runs
    a list of writes in one transaction and sets each one's result or error."""

    def __init__(self, run_batch: Callable[[list[Write[C, Any]]], None]) -> None:
        self.lock = threading.Lock()  # held by the thread running a batch
        self._run_batch = run_batch
        self._queue: list[Write[C, Any]] = []
        self._queue_lock = threading.Lock()

    def submit(self, job: Write[C, T]) -> T:
        with self._queue_lock:
            self._queue.append(job)
        with self.lock:
            if not job.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    self._run_batch(batch)
                except BaseException as e:
                    for each in batch:
                        each.fail(e)
                    raise
                finally:
                    for each in batch:
                        each.done = True
        return job.outcome()
