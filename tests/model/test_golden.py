"""Snapshots written by every released format version keep loading and resuming.

The files under tests/golden/ were written by durable itself (format 1) from the functions in
tests/golden/programs.py. They are never regenerated: a change that stops them from loading
breaks every user's paused instances.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from durable import DurableBackend, PauseForEventException, StateStore
from durable._model import FORMAT_VERSION, EventWait, read_snapshot

programs = importlib.import_module("tests.golden.programs")
GOLDEN = Path(__file__).parent.parent / "golden"


def _store_with(store: StateStore, name: str) -> StateStore:
    """`store` holding the golden snapshot `name`, saved through the seed contract's `save`
    (so with no header: the store must read it as a snapshot of before headers)."""
    store.save(name, (GOLDEN / f"{name}.json").read_bytes())
    return store


async def _finish(program: object, name: str, store: StateStore) -> object:
    backend = DurableBackend(store)
    for _ in range(10):
        try:
            return await program(orchestration_backend=backend, instance_id=name)  # type: ignore[operator]
        except PauseForEventException as e:
            backend.publish_event(name, e.event)
    raise AssertionError("did not finish")


async def test_v1_loop_resumes_at_its_item(store: StateStore) -> None:
    """A format-1 snapshot paused inside a `for` loop waits for its event, then finishes; the
    first checkpoint after it writes format 2, with the wait as a value and a header."""
    _store_with(store, "v1-count")
    assert read_snapshot("v1-count", GOLDEN.joinpath("v1-count.json").read_bytes()).wait == (
        EventWait(name="item-b")
    )
    with pytest.raises(PauseForEventException) as info:
        await programs.count_items(
            orchestration_backend=DurableBackend(store), instance_id="v1-count"
        )
    assert info.value.event == "item-b"
    backend = DurableBackend(store)
    backend.publish_event("v1-count", "item-b")
    with pytest.raises(PauseForEventException):
        await programs.count_items(orchestration_backend=backend, instance_id="v1-count")
    stored = store.read("v1-count")
    assert stored.data is not None and stored.header is not None
    assert read_snapshot("v1-count", stored.data).format_version == FORMAT_VERSION == 2
    assert (stored.header.seq, stored.header.status) == (4, "paused")  # golden seq 3, +1
    assert await _finish(programs.count_items, "v1-count", store) == {"a": 2, "b": 1}


async def test_v1_nested_call_with_user_types_resumes(store: StateStore) -> None:
    """A format-1 snapshot of a nested call holding a dataclass, UUID, Decimal, Enum and an
    aware datetime resumes with exact types and shared identity."""
    _store_with(store, "v1-nested")
    result = await _finish(programs.process, "v1-nested", store)
    assert result == (2, True, "12.50")


async def test_v2_nested_functions_resume_sharing_their_cell(store: StateStore) -> None:
    """A lambda and a nested def saved by reference to their definition sites, sharing the
    cell of the frame's variable `k`: the def's `nonlocal` assignment after the resume is seen
    by the lambda and by the frame."""
    _store_with(store, "v2-lambda")
    result = await _finish(programs.sort_later, "v2-lambda", store)
    assert result == ([3, 2, 1], -1)
