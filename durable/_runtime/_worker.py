"""`durable.Worker`: run many instances of some programs in one process.

::

    async with durable.Worker(backend, programs=[approval, checkout], concurrency=100) as worker:
        handle = await worker.start(approval, claim, instance_id="claim-7")
        print(await handle.result())        # waits through events, timers, retries, children

A worker resumes every instance of its programs whose wait can be resolved, at most
`concurrency` at once, in one anyio task group (asyncio or trio). It learns about them in
three ways:

* **In-process publishes** (``backend.publish_event``, ``await backend.publish``,
  ``backend.cancel`` on the same `DurableBackend` object) wake the instance at once, with no
  polling: the backend calls the worker's listener with the instance id, in whatever thread
  published; the listener puts the id in a set under a `threading.Lock` and asks the event
  loop, through the loop's own thread-safe non-blocking scheduler (asyncio's
  ``call_soon_threadsafe``, trio's ``TrioToken.run_sync_soon``), to set the worker's wake-up
  event. A publish never blocks on the worker.
* **Timers**: every time a run stops with `Suspended.wake_at`, the worker remembers it and
  resumes the instance when the backend's clock reaches it. With the system clock it sleeps
  until then (or the poll interval, whichever comes first). With any other clock
  (`durable.testing.VirtualClock`), clock time says nothing about real time, so while a timer
  is pending the worker re-reads ``backend.clock.now()`` every `timer_check` real seconds
  (0.05 by default): advancing a virtual clock wakes the instance within that.
* **Polling** (`DurableBackend` only): every `poll_interval` seconds the worker asks
  ``store.claim_ready(clock.now(), owner, until, limit, programs=...)``, which finds and
  claims what other processes published, timers of instances this worker never ran, and
  roots whose children finished. A store that hears other processes (``store.listens``:
  PostgreSQL's LISTEN/NOTIFY) makes the worker poll at once when it hears something.

An instance is resumed through the program its header names (``program`` against
``program.name`` of the worker's `programs`); an instance of another program is skipped
(logged once). A child of `durable.gather` is resumed by resuming its root instance, which
drives its children. Instances that are running now are never run twice at once: a wake-up
for one that is running makes it run once more when it stops (an event published during a
run may have been missed by it); a poll that finds a running instance is dropped (the next
poll finds it again if it is still ready).

Failures: an exception of the instance's own code is saved as its outcome by the runtime (as
for any call), given to its handle, counted and logged (``worker.instance_failed``); the
worker goes on. `ConcurrentResumeError` (another process resumed the instance first) is
skipped quietly (``worker.race_lost``, debug). `StoreError` is retried with exponential
backoff (``worker.store_error``, warning), for an instance and for the poll.

Shutdown: `stop(grace)` stops taking new work, gives the runs in flight `grace` seconds to
reach their next wait or their end, then cancels what is left: a cancelled run stops where it
is and the instance stays at its last checkpoint (its code since then runs again at the next
resume). Leaving ``async with`` normally calls ``stop(grace)``; a cancellation of the worker
(or of `run`) cancels the runs in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import math
import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, cast

import anyio
import anyio.abc

from .._model import FINISHED, InstanceHeader, header_of
from .._tracing import emit
from ..errors import (
    ConcurrentResumeError,
    InstanceExistsError,
    InstanceNotFoundError,
    StoreError,
    Suspended,
)
from ._backend import DurableBackend, OrchestrationBackend, RunLease, lease_owner
from ._clock import SystemClock
from ._engine import DurableRuntime, arguments_digest
from ._offload import offload
from ._program import DurableProgram

__all__ = ["InstanceHandle", "Worker", "WorkerStats"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Counters of a worker since it started: runs in flight now, instances whose last run
    stopped to wait, and instances that completed or failed (totals)."""

    running: int
    waiting: int
    completed: int
    failed: int


class InstanceHandle(Generic[R]):
    """An instance run by a `Worker` (`Worker.start`, `Worker.get_handle`)."""

    def __init__(
        self, worker: Worker, program: DurableProgram[Any, R] | None, instance_id: str
    ) -> None:
        self.worker = worker
        self.program = program
        self.instance_id = instance_id
        self._outcome: tuple[bool, Any] | None = None  # (ok, value or exception)
        self._done: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<InstanceHandle {self.instance_id!r}>"

    def _settle(self, ok: bool, value: Any) -> None:
        self._outcome = (ok, value)
        if self._done is not None:
            self._done.set()

    async def result(self) -> R:
        """Wait until the instance finishes (through its events, timers, retries and
        children, run by the worker) and return its result, or raise its exception.

        An instance finished by another process is noticed within the worker's poll interval.
        """
        while True:
            if self._outcome is not None:
                ok, value = self._outcome
                if ok:
                    return cast(R, value)
                raise value
            header = await self.worker._header(self.instance_id)
            if header is not None and header.status in FINISHED:
                # The saved outcome: its result, or its exception rebuilt.
                program = self.program or self.worker.programs.get(header.program)
                if program is None:
                    raise LookupError(
                        f"instance {self.instance_id!r} runs {header.program}, which this "
                        "worker does not run: add it to programs="
                    )
                runtime = DurableRuntime(self.worker.backend)
                return cast(R, await runtime.run(program, self.instance_id, start=False))
            self._done = self._done or anyio.Event()
            if self._outcome is not None:  # settled while the header was being read
                continue
            with anyio.move_on_after(self.worker.poll_interval):
                await self._done.wait()


class Worker:
    """Runs the instances of `programs` on `backend` as their waits resolve (module docstring).

    Use it as an async context manager (``async with Worker(...) as worker:``), or ``await
    worker.run()``, which runs until `stop` is called or the task is cancelled.
    """

    def __init__(
        self,
        backend: OrchestrationBackend,
        programs: Iterable[DurableProgram[..., Any]] = (),
        *,
        concurrency: int = 100,
        poll_interval: float = 1.0,
        timer_check: float = 0.05,
        grace: float = 10.0,
        lease: float = 30.0,
        owner: str | None = None,
    ) -> None:
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds, not {lease!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0, not {poll_interval!r}")
        self.backend = backend
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.timer_check = timer_check
        self.grace = grace
        self.lease = timedelta(seconds=lease)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._held: set[str] = set()  # instances leased to this worker, running now
        self.programs: dict[str, DurableProgram[..., Any]] = {}
        self._foreign: set[str] = set()
        for program in programs:
            self.add_program(program)
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._runtime = DurableRuntime(backend)
        self._group: anyio.abc.TaskGroup | None = None
        self._handles: weakref.WeakValueDictionary[str, InstanceHandle[Any]] = (
            weakref.WeakValueDictionary()
        )
        self._busy: dict[str, bool] = {}  # scheduled or running -> run again when it stops
        self._timers: list[tuple[datetime, str]] = []
        # roots whose last run here stopped to wait, and their programs: a wake-up of one
        # needs no header read to know what to run
        self._waiting: dict[str, DurableProgram[..., Any]] = {}
        self._store_failures: dict[str, int] = {}
        self._pending: set[str] = set()  # woken from any thread; guarded by `_lock`
        self._poll_soon = False  # the store heard another process; guarded by `_lock`
        self._lock = threading.Lock()
        self._wake: anyio.Event | None = None
        self._schedule_on_loop: Callable[[Callable[[], None]], object] | None = None
        self._stopping = False
        self._stopped: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._running = 0
        self._completed = 0
        self._failed = 0

    # -- the public surface --------------------------------------------------------------------

    def add_program(self, program: DurableProgram[..., Any]) -> None:
        """Run the instances of `program` too."""
        if not isinstance(program, DurableProgram):
            raise TypeError(f"a Worker runs durable programs (make_durable), not {program!r}")
        self.programs[program.name] = program
        self._foreign.clear()

    def stats(self) -> WorkerStats:
        return WorkerStats(self._running, len(self._waiting), self._completed, self._failed)

    async def __aenter__(self) -> Worker:
        if self._group is not None:
            raise RuntimeError("this Worker is running already")
        self._stopped = anyio.Event()
        if self._stopping:  # `stop` was called before `run` got here
            self._stopped.set()
        self._wake = anyio.Event()
        self._schedule_on_loop = _loop_scheduler()
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        if isinstance(self.backend, DurableBackend):
            self.backend.add_listener(self._notify)
        group.start_soon(self._main)
        if isinstance(self.backend, DurableBackend):
            group.start_soon(self._renew_leases)
            if self.backend.store.listens:
                group.start_soon(self.backend.store.listen, self._heard)
        emit("worker.started", programs=sorted(self.programs), concurrency=self.concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group, self._group = self._group, None
        assert group is not None
        if isinstance(self.backend, DurableBackend):
            self.backend.remove_listener(self._notify)
        try:
            if exc_type is None:
                await self._drain(self.grace)
        finally:
            self._stopping = True
            group.cancel_scope.cancel()
            handled = await group.__aexit__(exc_type, exc, tb)
            self._schedule_on_loop = None
            self._stopping = False  # the worker may be entered again
            emit("worker.stopped", **_counts(self.stats()))
        return handled

    async def run(self) -> None:
        """Run until `stop` is called (then the runs in flight get `grace` seconds) or this
        task is cancelled (then they are cancelled at once)."""
        async with self:
            assert self._stopped is not None
            await self._stopped.wait()

    def stop(self) -> None:
        """Ask `run` to return: no new work is taken; see `grace`. Safe from the worker's loop."""
        self._stopping = True
        if self._stopped is not None:
            self._stopped.set()
        if self._wake is not None:
            self._wake.set()

    async def start(
        self,
        program: DurableProgram[P, R],
        /,
        *args: Any,
        instance_id: str,
        **kwargs: Any,
    ) -> InstanceHandle[R]:
        """Start `instance_id` of `program` with the arguments and run it, in this task,
        until its first wait or its end; its handle.

        The exceptions of the instance's code go to ``handle.result()``, not here. Starting
        an id that exists already is fine with the same arguments (the handle of that
        instance; the worker resumes it if it can continue), and raises
        `InstanceExistsError` with other arguments or another program: the arguments the
        function reads are compared, as encoded for saving, with those the instance was
        started with (kept in its ``instance.started`` history entry; a backend without
        history, or an instance started before this check, is not compared).
        """
        self._require_running()
        if program.name not in self.programs:
            self.add_program(program)
        arguments = program.bind(args, kwargs)
        handle = self.get_handle(instance_id, program)
        header = await self._header(instance_id)
        if header is not None:
            await self._check_same(program, instance_id, arguments, header)
            self._schedule(instance_id, again=False)
            return handle
        if instance_id in self._busy:  # being started by another task right now
            self._busy[instance_id] = True
            return handle
        self._busy[instance_id] = False
        try:
            async with self._limiter:
                await self._attempt(program, instance_id, args, kwargs)
        finally:
            self._release(instance_id)
        return handle

    async def execute(
        self,
        program: DurableProgram[P, R],
        /,
        *args: Any,
        instance_id: str,
        **kwargs: Any,
    ) -> R:
        """`start`, then ``handle.result()``: the instance's result once it finishes."""
        handle = await self.start(program, *args, instance_id=instance_id, **kwargs)
        return await handle.result()

    async def resume(self, instance_id: str) -> InstanceHandle[Any]:
        """The handle of an existing instance, which the worker resumes now if it can
        continue; `InstanceNotFoundError` if it never started."""
        self._require_running()
        header = await self._header(instance_id)
        if header is None:
            raise InstanceNotFoundError(f"instance {instance_id!r} has no saved state")
        program = self.programs.get(header.program)
        if program is None:
            raise LookupError(
                f"instance {instance_id!r} runs {header.program}, which this worker does not "
                "run: add it to programs="
            )
        handle = self.get_handle(instance_id, program)
        self._schedule(instance_id, again=True)
        return handle

    def get_handle(
        self, instance_id: str, program: DurableProgram[P, R] | None = None
    ) -> InstanceHandle[Any]:
        """The handle of `instance_id` (one object per id while it is referenced). Without
        `program`, the instance's program is looked up when the result is read."""
        handle = self._handles.get(instance_id)
        if handle is None:
            handle = InstanceHandle(self, program, instance_id)
            self._handles[instance_id] = handle
        elif handle.program is None:
            handle.program = program
        return handle

    # -- wake-ups ------------------------------------------------------------------------------

    def _notify(self, instance_id: str) -> None:
        """The backend's listener: any thread, never blocks (module docstring)."""
        with self._lock:
            self._pending.add(instance_id)
        scheduler = self._schedule_on_loop
        if scheduler is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing: the id stays pending
            scheduler(self._set_wake)

    def _heard(self, instance_id: str) -> None:
        """The store's listener (another process published, or finished a child): poll now.

        Every worker hears every notification; had each claimed the instance named, all but
        one would lose the race, each at the cost of a trip to the store. A poll instead
        claims, with `StateStore.claim_ready` (``SKIP LOCKED`` on PostgreSQL), whatever is
        ready and not taken, so notifications heard together cost one poll and workers
        share the ready instances out."""
        with self._lock:
            self._poll_soon = True
        scheduler = self._schedule_on_loop
        if scheduler is not None:
            with contextlib.suppress(RuntimeError):
                scheduler(self._set_wake)

    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the main loop ---------------------------------------------------------------------------

    async def _main(self) -> None:
        next_poll = 0.0
        poll_failures = 0
        polling = isinstance(self.backend, DurableBackend)
        system_clock = isinstance(self.backend.clock, SystemClock)
        while not self._stopping:
            self._wake = anyio.Event()
            with self._lock:
                woken, self._pending = self._pending, set()
                heard, self._poll_soon = self._poll_soon, False
            if heard and not poll_failures:
                next_poll = 0.0
            for instance_id in woken:
                self._schedule(instance_id, again=True)
            now = self.backend.clock.now()
            while self._timers and self._timers[0][0] <= now:
                self._schedule(heapq.heappop(self._timers)[1], again=False)
            if polling and time.monotonic() >= next_poll:
                try:
                    found = await self._poll(now)
                except StoreError as e:
                    poll_failures += 1
                    delay = min(self.poll_interval * 2**poll_failures, _MAX_BACKOFF)
                    emit("worker.store_error", level="warning", error=str(e), retry_in=delay)
                    next_poll = time.monotonic() + delay
                else:
                    poll_failures = 0
                    next_poll = time.monotonic() + self.poll_interval
                    for instance_id in found:
                        self._schedule(instance_id, again=False)
            delay = next_poll - time.monotonic() if polling else math.inf
            if self._timers:
                left = (self._timers[0][0] - self.backend.clock.now()).total_seconds()
                delay = min(delay, max(left, 0.0) if system_clock else self.timer_check)
            with anyio.move_on_after(max(delay, 0.0)):
                await self._wake.wait()

    async def _poll(self, now: datetime) -> list[str]:
        assert isinstance(self.backend, DurableBackend)
        store = self.backend.store
        limit = self.concurrency + len(self._busy)
        until = now + self.lease
        programs = set(self.programs)
        return await self._io(
            functools.partial(store.claim_ready, now, self.owner, until, limit, programs=programs)
        )

    def _schedule(self, instance_id: str, *, again: bool) -> None:
        """Run `instance_id` soon; if it is running, run it again after (`again`) or not."""
        if instance_id in self._busy:
            self._busy[instance_id] = self._busy[instance_id] or again
            return
        if self._stopping or self._group is None:
            return
        self._busy[instance_id] = False
        self._group.start_soon(self._drive, instance_id)

    def _release(self, instance_id: str) -> None:
        again = self._busy.pop(instance_id, False)
        if again:
            self._schedule(instance_id, again=False)
        if not self._busy and self._idle is not None:
            self._idle.set()

    async def _later(self, instance_id: str, delay: float) -> None:
        await anyio.sleep(delay)
        self._schedule(instance_id, again=False)

    async def _drive(self, instance_id: str) -> None:
        try:
            async with self._limiter:
                if self._stopping:
                    return
                known = self._waiting.get(instance_id)
                try:
                    target = (instance_id, known) if known else await self._target(instance_id)
                except StoreError as e:
                    self._store_failed(instance_id, e)
                    return
                if target is None:
                    return
                root, program = target
                if root != instance_id:  # a child: its root drives it
                    self._schedule(root, again=True)
                    return
                await self._attempt(program, instance_id, (), {})
        finally:
            self._release(instance_id)

    async def _target(self, instance_id: str) -> tuple[str, DurableProgram[..., Any]] | None:
        """The root instance to run for `instance_id` and its program; None to skip it."""
        header = await self._header(instance_id)
        seen = {instance_id}
        while header is not None and header.parent is not None and header.parent not in seen:
            instance_id = header.parent
            seen.add(instance_id)
            header = await self._header(instance_id)
        if header is None or header.status in FINISHED:
            return None
        program = self.programs.get(header.program)
        if program is None:
            if instance_id not in self._foreign:
                self._foreign.add(instance_id)
                emit("worker.instance_skipped", instance_id=instance_id, program=header.program)
            return None
        return instance_id, program

    async def _attempt(
        self,
        program: DurableProgram[..., Any],
        instance_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """One run of `instance_id`, under its lease; its outcome recorded. Never raises an
        Exception."""
        lease = await self._claim(instance_id)
        if lease is None:
            return
        self._running += 1
        self._held.add(instance_id)
        token = lease_owner.set(lease)
        try:
            value = await self._runtime.run(program, instance_id, args, kwargs)
        except Suspended as s:
            self._waiting[instance_id] = program
            self._store_failures.pop(instance_id, None)
            if s.wake_at is not None:
                if not self._timers or s.wake_at < self._timers[0][0]:
                    self._set_wake()  # the main loop sleeps for less now
                heapq.heappush(self._timers, (s.wake_at, instance_id))
        except ConcurrentResumeError:
            emit("worker.race_lost", level="debug", instance_id=instance_id)
        except StoreError as e:
            self._store_failed(instance_id, e)
        except Exception as e:
            self._finished(instance_id, False, e)
            emit(
                "worker.instance_failed",
                instance_id=instance_id,
                program=program.name,
                error=f"{type(e).__qualname__}: {e}",
            )
        else:
            self._finished(instance_id, True, value)
        finally:
            lease_owner.reset(token)
            self._held.discard(instance_id)
            self._running -= 1
            if not lease.settled:  # no commit ended it: give it back for other workers
                with anyio.CancelScope(shield=True):
                    await self._give_back(instance_id)

    async def _claim(self, instance_id: str) -> RunLease | None:
        """The lease of `instance_id` for this worker's run, or None when another worker
        holds it (then that worker runs it) or the store failed (then it is retried)."""
        if not isinstance(self.backend, DurableBackend):
            return RunLease(self.owner, instance_id, settled=True)  # nothing to claim
        now = self.backend.clock.now()
        store = self.backend.store
        try:
            # the claim and the run's first read in one trip to the store
            stored = await self._io(
                store.claim_read, instance_id, self.owner, now, now + self.lease
            )
        except StoreError as e:
            self._store_failed(instance_id, e)
            return None
        if stored is None:
            emit("worker.instance_leased", level="debug", instance_id=instance_id)
            return None
        if stored.header is not None and stored.header.status in FINISHED:
            # finished elsewhere since it was found ready: nothing to run (a late poll)
            self._waiting.pop(instance_id, None)
            await self._give_back(instance_id)
            return None
        return RunLease(self.owner, instance_id, prefetched=stored)

    async def _give_back(self, instance_id: str) -> None:
        assert isinstance(self.backend, DurableBackend)
        try:
            await self._io(self.backend.store.release, instance_id, self.owner)
        except StoreError as e:  # the lease expires on its own
            emit("worker.store_error", level="warning", instance_id=instance_id, error=str(e))

    async def _renew_leases(self) -> None:
        """Renew the leases of the runs in flight every third of the lease."""
        assert isinstance(self.backend, DurableBackend)
        store = self.backend.store
        while True:
            await anyio.sleep(self.lease.total_seconds() / 3)
            held = sorted(self._held)
            if not held:
                continue
            now = self.backend.clock.now()

            def renew(ids: list[str] = held, now: datetime = now) -> list[str]:
                # `renew`, never `claim`: a run that ended meanwhile released its lease, and
                # a late claim would take it again for nothing (blocking other workers)
                until = now + self.lease
                gone = [i for i in ids if not store.renew(i, self.owner, until)]
                return [i for i in gone if i in self._held]

            try:
                lost = await self._io(renew)
            except StoreError as e:
                emit("worker.store_error", level="warning", error=str(e))
                continue
            for instance_id in lost:  # its commit will be refused: the other worker goes on
                emit("worker.lease_lost", level="warning", instance_id=instance_id)

    def _finished(self, instance_id: str, ok: bool, value: Any) -> None:
        self._waiting.pop(instance_id, None)
        self._store_failures.pop(instance_id, None)
        if ok:
            self._completed += 1
        else:
            self._failed += 1
        handle = self._handles.get(instance_id)
        if handle is not None:
            handle._settle(ok, value)

    def _store_failed(self, instance_id: str, error: StoreError) -> None:
        failures = self._store_failures.get(instance_id, 0) + 1
        self._store_failures[instance_id] = failures
        delay = min(0.05 * 2**failures, _MAX_BACKOFF)
        emit(
            "worker.store_error",
            level="warning",
            instance_id=instance_id,
            error=str(error),
            attempt=failures,
            retry_in=delay,
        )
        if self._group is not None and not self._stopping:
            self._group.start_soon(self._later, instance_id, delay)

    async def _drain(self, grace: float) -> None:
        """Stop taking work; wait up to `grace` seconds for the runs in flight."""
        self._stopping = True
        self._set_wake()
        if not self._busy:
            return
        self._idle = anyio.Event()
        with anyio.move_on_after(grace):
            await self._idle.wait()

    # -- reading instances ---------------------------------------------------------------------

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        assert isinstance(self.backend, DurableBackend)
        if self.backend.store.blocking:
            return await offload(fn, *args)
        return fn(*args)

    async def _header(self, instance_id: str) -> InstanceHeader | None:
        if isinstance(self.backend, DurableBackend):
            return await self._io(self.backend.store.read_header, instance_id)
        snapshot = (await self.backend.load_instance(instance_id)).snapshot
        return None if snapshot is None else header_of(snapshot)

    async def _check_same(
        self,
        program: DurableProgram[..., Any],
        instance_id: str,
        arguments: dict[str, Any],
        header: InstanceHeader,
    ) -> None:
        if header.program != program.name:
            raise InstanceExistsError(
                f"instance {instance_id!r} exists already and runs {header.program}, not "
                f"{program.name}; nothing was changed"
            )
        if not isinstance(self.backend, DurableBackend):
            return
        history = await self._io(self.backend.read_history, instance_id)
        started = next((e for e in history if e.get("kind") == "instance.started"), None)
        saved = None if started is None else started.get("arguments")
        wanted = arguments_digest(arguments).get("arguments")
        if saved is not None and wanted is not None and saved != wanted:
            raise InstanceExistsError(
                f"instance {instance_id!r} of {program.name} exists already and was started "
                "with other arguments; nothing was changed. Resume it with "
                "worker.resume(instance_id) or start another id"
            )

    def _require_running(self) -> None:
        if self._group is None:
            raise RuntimeError("the Worker is not running: use `async with worker:` first")


def _loop_scheduler() -> Callable[[Callable[[], None]], object]:
    """The running event loop's thread-safe, non-blocking "call this soon"."""
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:  # not asyncio: anyio's other backend, trio
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon


def _counts(stats: WorkerStats) -> dict[str, Any]:
    return {
        "running": stats.running,
        "waiting": stats.waiting,
        "completed": stats.completed,
        "failed": stats.failed,
    }
