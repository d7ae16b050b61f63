"""Group commit: writes from many threads share one transaction (SQL stores).

A writer queues its work (a `Write`) and takes the batch lock; whoever holds the lock takes
every queued write and runs them as one batch (one transaction; the store decides how one
failing write fails alone), then hands each writer its own result. A writer returns only
after the commit that holds its write; a batch that fails fails each of its writes."""

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

    __slots__ = ("action", "body", "done", "durable", "error", "instance_id", "result")

    def __init__(
        self,
        action: str,
        instance_id: str | None,
        body: Callable[[C], T],
        *,
        durable: bool = True,
    ) -> None:
        self.action = action
        self.durable = durable  # False: need not survive a power loss (leases)
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
    """The queue and the leader of group commit (module docstring). ``run_batch`` runs a list
    of writes in one transaction and sets each one's result or error.

    One condition guards the queue and the leader flag. A writer whose write a batch took
    returns as soon as that batch ends; rejected design: a leader *lock* that every writer
    takes to learn whether its write is done, which keeps finished writers waiting behind the
    next batch (halving throughput and the batch size)."""

    def __init__(self, run_batch: Callable[[list[Write[C, Any]]], None]) -> None:
        self._run_batch = run_batch
        self._queue: list[Write[C, Any]] = []
        self._changed = threading.Condition()
        self._leading = False  # a thread is running a batch

    def submit(self, job: Write[C, T]) -> T:
        with self._changed:
            self._queue.append(job)
            while self._leading and not job.done:
                self._changed.wait()
            if job.done:
                return job.outcome()
            self._leading = True
            batch, self._queue = self._queue, []
        try:
            self._run_batch(batch)
        except BaseException as e:
            for each in batch:
                each.fail(e)
            raise
        finally:
            with self._changed:
                for each in batch:
                    each.done = True
                self._leading = False
                self._changed.notify_all()
        return job.outcome()
