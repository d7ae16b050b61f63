"""Each checkpoint is a compare-and-set: two runs of one instance never both commit."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from durable import (
    ConcurrentResumeError,
    DiskStateStore,
    DurableBackend,
    InMemoryStateStore,
    PauseForEventException,
    StateStore,
    make_durable,
)

STEPS: list[str] = []
GATE: dict[str, anyio.Event] = {}


async def _wait_at_gate(name: str) -> None:
    await GATE[name].wait()


async def _approve(order: str) -> str:
    raise PauseForEventException("go")
    await _wait_at_gate(order)  # both runs are resumed and stand here
    STEPS.append(f"charged {order}")
    raise PauseForEventException("done")
    return order


approve = make_durable(_approve)


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return InMemoryStateStore() if request.param == "memory" else DiskStateStore(tmp_path)


async def test_two_resumes_of_one_instance_exactly_one_commits(store: StateStore) -> None:
    """Two runtimes resume the same paused instance at once: one saves, the other gets
    ConcurrentResumeError, and the saved state is the winner's."""
    STEPS.clear()
    GATE["o-1"] = anyio.Event()
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await approve("o-1", orchestration_backend=backend, instance_id="o-1")
    backend.publish_event("o-1", "go")
    outcomes: list[BaseException] = []

    async def resume() -> None:
        try:
            await approve("o-1", orchestration_backend=DurableBackend(store), instance_id="o-1")
        except (PauseForEventException, ConcurrentResumeError) as e:
            outcomes.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(resume)
        tg.start_soon(resume)
        await anyio.sleep(0.2)  # both loaded the same checkpoint and wait at the gate
        GATE["o-1"].set()
    kinds = sorted(type(e).__name__ for e in outcomes)
    assert kinds == ["ConcurrentResumeError", "PauseForEventException"]
    loser = next(e for e in outcomes if isinstance(e, ConcurrentResumeError))
    assert "o-1" in str(loser)
    # The loser wrote nothing: the instance waits for "done", as the winner left it.
    backend.publish_event("o-1", "done")
    assert await approve("o-1", orchestration_backend=backend, instance_id="o-1") == "o-1"


async def test_two_starts_of_one_new_instance_exactly_one_commits(store: StateStore) -> None:
    """Two runtimes start the same new instance at once: only one start is saved."""
    STEPS.clear()
    GATE["o-2"] = anyio.Event()
    GATE["o-2"].set()
    results: list[BaseException] = []

    async def start() -> None:
        try:
            await approve("o-2", orchestration_backend=DurableBackend(store), instance_id="o-2")
        except (PauseForEventException, ConcurrentResumeError) as e:
            results.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(start)
        tg.start_soon(start)
    assert sorted(type(e).__name__ for e in results) in (
        ["PauseForEventException", "PauseForEventException"],  # second saw the first's save
        ["ConcurrentResumeError", "PauseForEventException"],
    )
    assert store.load("o-2") is not None
