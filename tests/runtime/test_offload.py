"""`durable._runtime._offload.offload`: the thread pool every blocking store call goes through.

Its promises are those of ``anyio.to_thread.run_sync`` (without ``abandon_on_cancel``), which
it replaced on the hot path: the result or the exception of the call comes back to the
caller; a call handed to a thread runs to its end and a cancelled caller waits for it; the
caller's context variables are seen by the call; a forked child can use it. Async tests run
on asyncio and trio.
"""

from __future__ import annotations

import contextvars
import multiprocessing
import threading
import time

import anyio
import pytest

from durable._runtime import _offload
from durable._runtime._offload import offload

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


async def test_the_result_comes_back_from_another_thread() -> None:
    here = threading.get_ident()
    result = await offload(lambda a, b: (a + b, threading.get_ident()), 2, 3)
    assert result[0] == 5
    assert result[1] != here


async def test_the_exception_of_the_call_is_raised_in_the_caller() -> None:
    def fails() -> None:
        raise KeyError("from the thread")

    with pytest.raises(KeyError, match="from the thread"):
        await offload(fails)


async def test_the_call_sees_the_callers_context_variables() -> None:
    WHO.set("the caller")
    assert await offload(WHO.get) == "the caller"


async def test_many_calls_at_once_all_finish_with_a_bounded_number_of_threads() -> None:
    seen: set[int] = set()
    lock = threading.Lock()

    def work(n: int) -> int:
        time.sleep(0.002)
        with lock:
            seen.add(threading.get_ident())
        return n * n

    results: dict[int, int] = {}

    async def one(n: int) -> None:
        results[n] = await offload(work, n)

    async with anyio.create_task_group() as group:
        for n in range(300):
            group.start_soon(one, n)
    assert results == {n: n * n for n in range(300)}
    assert 1 < len(seen) <= _offload.MAX_THREADS


async def test_a_cancelled_caller_waits_for_its_call_to_end() -> None:
    """The call is not abandoned: a checkpoint whose commit went through is never reported
    as failed while its write is still running."""
    started, finished = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.2)
        finished.set()
        return "done"

    outcome: list[str] = []

    async def caller() -> None:
        outcome.append(await offload(slow))

    with anyio.move_on_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(caller)
            await anyio.to_thread.run_sync(started.wait)
            group.cancel_scope.cancel()
    assert finished.is_set()  # the task group ended only after the call did
    assert outcome == ["done"]  # and the caller got its result (the cancel came after)


def _child(queue: multiprocessing.Queue[object]) -> None:
    queue.put(anyio.run(offload, lambda: "from the child's pool"))


def test_a_forked_child_gets_a_pool_of_its_own() -> None:
    anyio.run(offload, lambda: None)  # the parent's pool has a thread now
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(30)
    if child.is_alive():  # hung: its pool believed it had the parent's threads
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert queue.get(timeout=5) == "from the child's pool"
