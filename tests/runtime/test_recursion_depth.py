"""Recursion through nested durable calls: how many Python frames one durable level costs.

Each level of durable recursion keeps two Python frames on the stack: the generated function
and `_Run.enter` (`_Frame.call` and `_Frame.resume` return the awaitable they start instead
of awaiting it). The README's "Supported syntax" table states this ratio; these tests hold it,
both for a fresh call and for a stack re-entered on resume.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from durable import DurableBackend, InMemoryStateStore, PauseForEventException, make_durable

DEPTHS: dict[str, int] = {}


def _stack_depth() -> int:
    frame, n = sys._getframe(1), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def _note_depth(key: str) -> None:
    DEPTHS[key] = _stack_depth()


@make_durable
async def descend(n: int, key: str) -> int:
    if n == 0:
        _note_depth(key)
        return 0
    return 1 + await descend(n - 1, key)


@make_durable
async def descend_and_pause(n: int, key: str) -> int:
    if n == 0:
        raise PauseForEventException("bottom")
        _note_depth(key)
        return 0
    return 1 + await descend_and_pause(n - 1, key)


async def _frames_per_level(program: Any, pause: bool) -> float:
    backend = DurableBackend(InMemoryStateStore())
    for depth in (10, 30):
        key, iid = f"{pause}-{depth}", f"r-{pause}-{depth}"
        if pause:
            with contextlib.suppress(PauseForEventException):
                await program(depth, key, orchestration_backend=backend, instance_id=iid)
            backend.publish_event(iid, "bottom")
        result = await program(depth, key, orchestration_backend=backend, instance_id=iid)
        assert result == depth
    return (DEPTHS[f"{pause}-30"] - DEPTHS[f"{pause}-10"]) / 20


async def test_two_python_frames_per_nested_durable_call() -> None:
    assert await _frames_per_level(descend, pause=False) == 2


async def test_two_python_frames_per_level_when_resumed() -> None:
    assert await _frames_per_level(descend_and_pause, pause=True) == 2
