"""Group commit: writes from many threads share one transaction (SQL stores).

A writer queues its work (a `Write`); if no batch is running it leads: it takes every queued
write and runs them as one batch (one transaction; the store decides how one failing write
fails alone), then hands each writer its own result and, if writes queued meanwhile, the lead
to the oldest one's writer. A writer returns only after the commit that holds its write; a
batch that fails fails each of its writes."""

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

    __slots__ = ("action", "body", "done", "durable", "error", "instance_id", "result", "turn")

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
        # held until this write is done, or its writer is to lead the next batch: the one
        # wake-up its writer gets (a lock, the cheapest thing a thread can block on)
        self.turn = threading.Lock()
        self.turn.acquire()

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

    A writer whose write is queued behind a running batch blocks on its own write's ``turn``
    lock; the leader, once its batch has committed, releases the lock of each write it ran
    (those writers return) and, if writes queued meanwhile, of the oldest one's writer, who
    leads the next batch. Every writer thus wakes once. Rejected designs: one condition that
    every finished batch notifies in full (each waiting thread woke and took the GIL, only
    to sleep again unless its write was done: under load the leader spent four fifths of a
    commit waiting for the GIL); a leader *lock* every writer takes to learn whether its write
    is done (finished writers waited behind the next batch, halving throughput)."""

    def __init__(self, run_batch: Callable[[list[Write[C, Any]]], None]) -> None:
        self._run_batch = run_batch
        self._queue: list[Write[C, Any]] = []
        self._lock = threading.Lock()
        self._leading = False  # a writer is running a batch, or has been woken to

    def submit(self, job: Write[C, T]) -> T:
        with self._lock:
            self._queue.append(job)
            follow, self._leading = self._leading, True
        if follow:
            try:
                job.turn.acquire()  # released when done, or when this writer is to lead
            except BaseException:  # a signal (Ctrl-C) in the main thread: leave the queue
                self._abandon(job)
                raise
            if job.done:
                return job.outcome()
        with self._lock:
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
                if each is not job:
                    each.turn.release()
            with self._lock:
                if self._queue:
                    self._queue[0].turn.release()  # its writer leads the next batch
                else:
                    self._leading = False
        return job.outcome()

    def _abandon(self, job: Write[C, Any]) -> None:
        """Take a write whose writer stopped waiting out of the queue; if the writer had just
        been woken to lead, wake the next one instead (else nobody would lead again)."""
        with self._lock:
            if job not in self._queue:
                return  # a batch took it: it runs, and nobody waits for it
            self._queue.remove(job)
            if job.turn.acquire(blocking=False):  # it was this writer's turn to lead
                if self._queue:
                    self._queue[0].turn.release()
                else:
                    self._leading = False
