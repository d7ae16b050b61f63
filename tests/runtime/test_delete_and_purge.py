"""`DurableBackend.delete` and `DurableBackend.purge` on every store and both event loops."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from programs import repairable
from stores.test_contract import T0, header, snap

from durable import DurableBackend, PauseForEventException
from durable.errors import InstanceLeasedError, InstanceNotFoundError, RepairRefusedError
from durable.stores import StateStore
from durable.testing import VirtualClock, capture_events

NOW = T0 + timedelta(days=40)
MONTH = timedelta(days=30)


def _put(
    store: StateStore,
    instance_id: str,
    status: str = "completed",
    *,
    age_days: int = 35,
    parent: str | None = None,
    children: tuple[str, ...] = (),
    program: str = "tests.module:program",
) -> None:
    made = dataclasses.replace(
        header(1, status, children=children),  # type: ignore[arg-type]
        updated_at=NOW - timedelta(days=age_days),
        parent=parent,
        program=program,
    )
    assert store.commit(instance_id, 0, made, snap(1), (), [b'"made"'])


def _all(store: StateStore) -> dict[str, tuple[object, ...]]:
    return {i: (store.read(i), store.read_history(i)) for i in store.list_instances()}


def _backend(store: StateStore) -> DurableBackend:
    return DurableBackend(store, clock=VirtualClock(NOW))


# -- delete ------------------------------------------------------------------------------------


async def test_delete_a_failed_instance_made_by_a_real_run(store: StateStore) -> None:
    backend = _backend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(150, "n", orchestration_backend=backend, instance_id="o1")
    await backend.publish("o1", "approve", 0)
    with pytest.raises(ValueError, match="cannot charge"):
        await repairable.order.resume(orchestration_backend=backend, instance_id="o1")
    _put(store, "other")
    other = _all(store)["other"]
    with capture_events() as events:
        assert await backend.delete("o1", by="ada", reason="test") == ["o1"]
    assert store.read("o1").data is None and store.read_history("o1") == []
    assert store.checkpoints("o1") == [] and store.list_instances() == ["other"]
    assert _all(store)["other"] == other
    deleted = [e for e in events if e["event"] == "instance.deleted"]
    assert [(e["instance_id"], e["by"], e["reason"], e["force"]) for e in deleted] == [
        ("o1", "ada", "test", False)
    ]
    with pytest.raises(InstanceNotFoundError, match="'o1' has nothing stored"):
        await backend.delete("o1")


async def test_a_leased_or_running_instance_is_refused_unless_forced(store: StateStore) -> None:
    backend = _backend(store)
    _put(store, "held", "paused")
    _put(store, "crashed", "running")
    assert store.claim("held", "worker-1", NOW, NOW + timedelta(seconds=30))
    before = _all(store)
    with pytest.raises(InstanceLeasedError, match="worker 'worker-1' holds it"):
        await backend.delete("held")
    with pytest.raises(RepairRefusedError, match="'crashed' is running"):
        await backend.delete("crashed")
    assert _all(store) == before
    assert await backend.delete("held", force=True) == ["held"]
    assert await backend.delete("crashed", force=True) == ["crashed"]
    assert store.list_instances() == []


async def test_an_expired_lease_does_not_refuse(store: StateStore) -> None:
    _put(store, "p", "paused")
    assert store.claim("p", "gone-worker", T0, T0 + timedelta(seconds=30))
    assert await _backend(store).delete("p") == ["p"]
    assert store.lease("p") is None


async def test_children_and_parents(store: StateStore) -> None:
    backend = _backend(store)
    _put(store, "root", "paused", children=("c1", "c2"))
    _put(store, "c1", "paused", parent="root")
    _put(store, "c2", "completed", parent="root")
    _put(store, "g1", "paused", parent="c1")
    _put(store, "other", "paused")
    before = _all(store)
    with pytest.raises(RepairRefusedError, match="waits for its children 'c1', 'c2'"):
        await backend.delete("root")
    with pytest.raises(RepairRefusedError, match="child of 'root', which is paused"):
        await backend.delete("c2")
    with pytest.raises(RepairRefusedError, match="child of 'root'"):
        await backend.delete("c1", cascade=True)
    assert store.claim("g1", "w", NOW, NOW + timedelta(seconds=5))
    with pytest.raises(InstanceLeasedError, match="'g1' is running"):
        await backend.delete("root", cascade=True)  # a descendant runs: nothing deleted
    assert _all(store) == before
    store.release("g1", "w")
    deleted = await backend.delete("root", cascade=True)
    assert sorted(deleted) == ["c1", "c2", "g1", "root"]
    assert deleted.index("g1") < deleted.index("c1") and deleted[-1] == "root"
    assert store.list_instances() == ["other"]


async def test_a_child_of_a_finished_parent_deletes_alone(store: StateStore) -> None:
    _put(store, "root", "completed")
    _put(store, "c", "completed", parent="root")
    assert await _backend(store).delete("c") == ["c"]
    assert store.list_instances() == ["root"]


# -- purge -------------------------------------------------------------------------------------


def _mixed(store: StateStore) -> None:
    _put(store, "old-done")
    _put(store, "young-done", age_days=10)
    _put(store, "old-failed", "failed")
    _put(store, "old-paused", "paused")
    _put(store, "old-other", program="tests.other:program")
    _put(store, "live-root", "paused", children=("live-root/0",), age_days=1)
    _put(store, "live-root/0", "completed", parent="live-root")
    _put(store, "done-root")
    _put(store, "done-root/0", "completed", parent="done-root")
    _put(store, "orphan", "completed", parent="no-such-root")


async def test_purge_dry_run_changes_nothing(store: StateStore) -> None:
    _mixed(store)
    before = _all(store)
    found = await _backend(store).purge(older_than=MONTH)
    assert found == ["done-root/0", "orphan", "done-root", "old-done", "old-other"]
    assert _all(store) == before


async def test_purge_deletes_only_what_matches(store: StateStore) -> None:
    _mixed(store)
    backend = _backend(store)
    found = await backend.purge(older_than=MONTH, program="tests.module:program", dry_run=False)
    assert found == ["done-root/0", "orphan", "done-root", "old-done"]
    assert store.list_instances() == sorted(
        ["young-done", "old-failed", "old-paused", "old-other", "live-root", "live-root/0"]
    )
    assert await backend.purge(older_than=MONTH, dry_run=False) == ["old-other"]
    assert await backend.purge(status=["failed"], older_than=MONTH, dry_run=False) == ["old-failed"]
    backend.clock.advance(timedelta(days=25))  # type: ignore[attr-defined]
    assert await backend.purge(older_than=MONTH, dry_run=False) == ["young-done"]


async def test_purge_skips_what_changed_or_is_leased(store: StateStore) -> None:
    _put(store, "a")
    _put(store, "b")
    assert store.claim("b", "w", NOW, NOW + timedelta(minutes=1))
    assert await _backend(store).purge(older_than=MONTH, dry_run=False) == ["a"]
    assert store.list_instances() == ["b"]


async def test_purge_takes_a_paused_tree_only_whole(store: StateStore) -> None:
    _put(store, "root", "paused", children=("root/0", "root/1"))
    _put(store, "root/0", "paused", parent="root")
    _put(store, "root/1", "paused", parent="root", age_days=1)
    backend = _backend(store)
    assert await backend.purge(status=("paused",), older_than=MONTH) == []
    backend.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    assert await backend.purge(status=("paused",), older_than=MONTH, dry_run=False) == [
        "root/0",
        "root/1",
        "root",
    ]


async def test_purge_refuses_bad_arguments(store: StateStore) -> None:
    backend = _backend(store)
    with pytest.raises(ValueError, match="status must name"):
        await backend.purge(status=("done",), older_than=MONTH)
    with pytest.raises(ValueError, match="older_than"):
        await backend.purge(older_than=-MONTH)
