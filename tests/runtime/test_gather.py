"""Fan-out with durable.gather: children are instances, run concurrently, results in order."""

from __future__ import annotations

from typing import Any

import pytest

import durable
from durable import (
    DurableBackend,
    InstanceCancelledError,
    InvalidWaitError,
    PauseForEventException,
    StateStore,
    Suspended,
    make_durable,
)
from durable.testing import VirtualClock

RAN: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


@durable.step
async def label(parcel: str) -> str:
    RAN.append(f"label {parcel}")
    return f"label-{parcel}"


async def _prepare(parcel: str, wait: bool) -> str:
    RAN.append(f"prepare {parcel}")
    if wait:
        packed = await durable.wait_for_event("packed")
        RAN.append(f"packed {parcel}")
        return f"{parcel} packed by {packed}"
    return f"{parcel} ready"


prepare = make_durable(_prepare)


async def _shipments(parcels: list[str], wait_on: str) -> list[str]:
    results = await durable.gather(*(prepare(p, p == wait_on) for p in parcels), label("box"))
    RAN.append("all prepared")
    return results


shipments = make_durable(_shipments)


async def call(program: Any, backend: DurableBackend, instance_id: str, *args: Any) -> Any:
    return await program(*args, orchestration_backend=backend, instance_id=instance_id)


async def test_results_come_in_argument_order(store: StateStore) -> None:
    backend = DurableBackend(store)
    result = await call(shipments, backend, "s-1", ["a", "b", "c"], "")
    assert result == ["a ready", "b ready", "c ready", "label-box"]
    assert sorted(RAN[:-1]) == ["label box", "prepare a", "prepare b", "prepare c"]
    children = [i for i in store.list_instances() if i.startswith("s-1/")]
    assert len(children) == 4
    for child in children:
        header = store.read_header(child)
        assert header is not None and header.parent == "s-1" and header.status == "completed"


async def test_a_wait_in_one_branch_pauses_only_that_branch(store: StateStore) -> None:
    backend = DurableBackend(store, clock=VirtualClock())
    with pytest.raises(Suspended) as info:
        await call(shipments, backend, "s-2", ["a", "b"], "b")
    assert not isinstance(info.value, PauseForEventException)
    assert sorted(RAN) == ["label box", "prepare a", "prepare b"]  # a finished, b waits
    parent = store.read_header("s-2")
    assert parent is not None and parent.status == "paused" and len(parent.children) == 3
    with pytest.raises(Suspended):  # nothing ready: nothing runs
        await call(shipments, backend, "s-2", ["a", "b"], "b")
    assert len(RAN) == 3
    statuses = {c: getattr(store.read_header(c), "status", None) for c in parent.children}
    waiting = [c for c, status in statuses.items() if status == "paused"]
    assert len(waiting) == 1
    backend.publish_event(waiting[0], "packed", "Ada")
    result = await call(shipments, backend, "s-2", ["a", "b"], "b")
    assert result == ["a ready", "b packed by Ada", "label-box"]
    assert RAN.count("prepare a") == 1 and RAN.count("label box") == 1  # never ran again
    assert RAN[-2:] == ["packed b", "all prepared"]


async def _failing(n: int) -> str:
    if n == 1:
        raise ValueError("parcel 1 is damaged")
    await durable.wait_for_event("never")
    return "unreachable"


failing = make_durable(_failing)


async def _handles(n: int) -> str:
    try:
        await durable.gather(failing(0), failing(1))
    except ValueError as e:
        return f"handled: {e}"
    return "no error"


handles = make_durable(_handles)


async def test_the_first_exception_is_raised_itself_and_cancels_the_others(
    store: StateStore,
) -> None:
    backend = DurableBackend(store)
    assert await call(handles, backend, "s-3", 2) == "handled: parcel 1 is damaged"
    children = sorted(c for c in store.list_instances() if c.startswith("s-3/"))
    headers = [store.read_header(c) for c in children]
    # the failed child, and the other cancelled durably (its next wait raises): it may have
    # reached its wait, or have been cancelled in this process before it got there
    assert headers[0] is not None and headers[0].status in ("running", "paused")
    assert headers[1] is not None and headers[1].status == "failed"
    assert [e.name for e in store.read(children[0]).inbox] == ["durable:cancel"]
    with pytest.raises(InstanceCancelledError):
        await call(failing, backend, children[0], 0)


async def _bad(n: int) -> Any:
    return await durable.gather(n, "text")


bad = make_durable(_bad)


async def test_gather_of_something_else_is_a_named_error(store: StateStore) -> None:
    with pytest.raises(InvalidWaitError, match="calls of durable functions or steps"):
        await call(bad, DurableBackend(store), "s-4", 1)


async def test_cancellation_inside_a_gather(store: StateStore) -> None:
    backend = DurableBackend(store)
    with pytest.raises(Suspended):
        await call(shipments, backend, "s-5", ["a"], "a")
    backend.cancel("s-5")
    with pytest.raises(InstanceCancelledError):
        await call(shipments, backend, "s-5", ["a"], "a")
    header = store.read_header("s-5")
    assert header is not None and header.status == "cancelled"
    child = next(c for c in store.list_instances() if c.startswith("s-5/") and c.endswith(".0"))
    with pytest.raises(InstanceCancelledError):
        await call(prepare, backend, child, "a", True)
