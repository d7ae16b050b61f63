"""Operator repairs through the API, on every store and both event loops: retry a failed
instance after a fix, edit live values, fork. Refused repairs leave the store unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from programs import repairable

from durable import DurableBackend, PauseForEventException, RepairRefusedError
from durable.errors import InstanceExistsError
from durable.stores import StateStore


@pytest.fixture(autouse=True)
def broken(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("REPAIRABLE_FIXED", raising=False)
    repairable.COUNTS.clear()
    yield


def _fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPAIRABLE_FIXED", "1")


async def _failed(backend: DurableBackend, instance_id: str, amount: int = 150) -> None:
    with pytest.raises(PauseForEventException):
        await repairable.order(amount, "n", orchestration_backend=backend, instance_id=instance_id)
    await backend.publish(instance_id, "approve", 0)
    with pytest.raises(ValueError, match="cannot charge"):
        await repairable.order.resume(orchestration_backend=backend, instance_id=instance_id)


def _state(store: StateStore, instance_id: str) -> tuple[object, ...]:
    stored = store.read(instance_id)
    return stored.header, stored.data, stored.inbox, store.read_history(instance_id)


async def test_retry_after_a_fix_runs_no_completed_block_again(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = DurableBackend(store)
    await _failed(backend, "o1")
    assert repairable.COUNTS == {"before": 1, "approved": 1, "charge": 1}
    _fix(monkeypatch)
    done = await backend.retry("o1", by="ada", reason="fixed the limit")
    assert done.status == "running" and done.seq == store.read("o1").seq
    assert await repairable.order.resume(
        orchestration_backend=backend, instance_id="o1"
    ) == "n: charged 150"
    assert repairable.COUNTS == {"before": 1, "approved": 1, "charge": 2, "after": 1}
    kinds = [e["kind"] for e in backend.read_history("o1")]
    retried = next(e for e in backend.read_history("o1") if e["kind"] == "instance.retried")
    assert retried["by"] == "ada" and retried["reason"] == "fixed the limit"
    assert retried["from_seq"] < retried["failed_seq"] < retried["seq"]
    assert kinds.index("instance.failed") < kinds.index("instance.retried") < len(kinds) - 1


async def test_retry_is_refused_for_an_instance_that_did_not_fail(store: StateStore) -> None:
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(5, "n", orchestration_backend=backend, instance_id="p")
    before = _state(store, "p")
    with pytest.raises(RepairRefusedError, match="is paused, not failed"):
        await backend.retry("p")
    assert _state(store, "p") == before


async def test_retry_without_a_retained_checkpoint_is_refused(tmp_path: object) -> None:
    from durable import InMemoryStateStore

    store = InMemoryStateStore(keep_checkpoints=0)
    backend = DurableBackend(store)
    await _failed(backend, "o")
    before = _state(store, "o")
    with pytest.raises(RepairRefusedError, match="no good checkpoint"):
        await backend.retry("o")
    assert _state(store, "o") == before


async def test_edit_changes_a_live_value_and_records_it(store: StateStore) -> None:
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(150, "n", orchestration_backend=backend, instance_id="e")
    seq = store.read("e").seq
    done = await backend.edit("e", frame=0, set={"amount": 40}, why="customer asked", by="bo")
    assert done.seq == seq + 1 and done.status == "paused"
    entry = backend.read_history("e")[-1]
    assert entry["kind"] == "instance.edited" and entry["by"] == "bo"
    assert entry["why"] == "customer asked"
    assert entry["changes"] == [{"name": "amount", "old": 150, "new": 40}]
    await backend.publish("e", "approve", 2)
    assert await repairable.order.resume(
        orchestration_backend=backend, instance_id="e"
    ) == "n: charged 42"


async def test_a_failed_instance_is_edited_then_retried(store: StateStore) -> None:
    backend = DurableBackend(store)
    await _failed(backend, "f")
    # The checkpoint a retry goes back to: `order` at its call, `charge` at its start.
    with pytest.raises(RepairRefusedError, match="'amount' is not live at frame 0"):
        await backend.edit("f", frame=0, set={"amount": 30}, why="lower it")
    await backend.edit("f", frame=1, set={"amount": 30}, why="lower it")
    assert store.read("f").header.status == "failed"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="cannot charge 150"):  # still failed until retried
        await repairable.order.resume(orchestration_backend=backend, instance_id="f")
    await backend.retry("f")
    assert await repairable.order.resume(
        orchestration_backend=backend, instance_id="f"
    ) == "n: charged 30"
    assert repairable.COUNTS["before"] == 1 and repairable.COUNTS["approved"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame": 0, "set": {"amount": "lots"}}, "holds a int, not a str"),
        ({"frame": 0, "set": {"total": 3}}, "'total' is not live at frame 0"),
        ({"frame": 3, "set": {"amount": 3}}, "has frames 0 to 0"),
        ({"frame": 0, "set": {"amount": 3}, "expected_seq": 1}, "not 1: it changed"),
        ({"frame": 0, "point": "call:charge"}, "moves to 'start' or to a pause"),
    ],
)
async def test_a_refused_edit_leaves_the_store_unchanged(
    store: StateStore, kwargs: dict[str, object], message: str
) -> None:
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(150, "n", orchestration_backend=backend, instance_id="r")
    before = _state(store, "r")
    with pytest.raises(RepairRefusedError, match=message):
        await backend.edit("r", why="try", **kwargs)  # type: ignore[arg-type]
    assert _state(store, "r") == before


async def test_an_edit_of_a_leased_instance_is_refused(store: StateStore) -> None:
    from datetime import timedelta

    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(150, "n", orchestration_backend=backend, instance_id="l")
    now = backend.clock.now()
    assert store.claim("l", "worker-1", now, now + timedelta(minutes=1))
    before = _state(store, "l")
    with pytest.raises(RepairRefusedError, match="is running: worker 'worker-1'"):
        await backend.edit("l", frame=0, set={"amount": 1}, why="x")
    assert _state(store, "l") == before


async def test_fork_then_both_resume_independently(store: StateStore) -> None:
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(10, "a", orchestration_backend=backend, instance_id="origin")
    done = await backend.fork("origin", "copy")
    assert done.seq == 1 and done.status == "paused"
    await backend.publish("copy", "approve", 5)
    assert await repairable.order.resume(
        orchestration_backend=backend, instance_id="copy"
    ) == "a: charged 15"
    assert store.read("origin").header.status == "paused"  # type: ignore[union-attr]
    await backend.publish("origin", "approve", 1)
    assert await repairable.order.resume(
        orchestration_backend=backend, instance_id="origin"
    ) == "a: charged 11"
    forked = [e for e in backend.read_history("origin") if e["kind"] == "instance.forked"]
    assert forked and forked[0]["fork"] == "copy"
    assert backend.read_history("copy")[0]["origin"] == "origin"
    with pytest.raises(InstanceExistsError):
        await backend.fork("origin", "copy")


async def test_fork_from_an_earlier_checkpoint(store: StateStore) -> None:
    backend = DurableBackend(store)
    await _failed(backend, "o")
    first = store.checkpoints("o")[0][0].seq
    done = await backend.fork("o", "again", from_seq=first)
    assert done.from_seq == first and store.read("again").seq == 1
    with pytest.raises(RepairRefusedError, match="has no checkpoint 999"):
        await backend.fork("o", "other", from_seq=999)


def test_retry_across_a_process_restart(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subprocess fails the instance; this process, with the fix, retries and resumes it."""
    import pathlib

    from durable import SQLiteStateStore

    path = pathlib.Path(str(tmp_path)) / "app.db"
    log = pathlib.Path(str(tmp_path)) / "ran.log"
    script = (
        "import anyio\nfrom programs import repairable\n"
        "from durable import DurableBackend, SQLiteStateStore, PauseForEventException\n"
        "async def main():\n"
        f"    b = DurableBackend(SQLiteStateStore({str(path)!r}))\n"
        "    try:\n"
        "        await repairable.order(500, 'x', orchestration_backend=b, instance_id='p')\n"
        "    except PauseForEventException:\n"
        "        pass\n"
        "    await b.publish('p', 'approve', 0)\n"
        "    try:\n"
        "        await repairable.order.resume(orchestration_backend=b, instance_id='p')\n"
        "    except ValueError:\n"
        "        print('failed')\n"
        "anyio.run(main)\n"
    )
    env = {**os.environ, "REPAIRABLE_LOG": str(log), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("REPAIRABLE_FIXED", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "failed", out.stderr
    _fix(monkeypatch)
    monkeypatch.setenv("REPAIRABLE_LOG", str(log))
    store = SQLiteStateStore(path)
    backend = DurableBackend(store)

    async def repair() -> str:
        await backend.retry("p", by="ops")
        return await repairable.order.resume(orchestration_backend=backend, instance_id="p")

    import anyio

    assert anyio.run(repair) == "x: charged 500"
    store.close()
    assert log.read_text().split() == ["before", "approved", "charge", "charge", "after"]


async def test_point_moves_a_paused_frame_back_to_its_start(store: StateStore) -> None:
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(10, "n", orchestration_backend=backend, instance_id="m")
    done = await backend.edit("m", frame=0, point="start", set={"amount": 20}, why="redo")
    assert done.status == "running"
    assert done.entry["from_point"] != "start" and done.entry["to_point"] == "start"
    with pytest.raises(PauseForEventException):  # the first block runs again, then waits
        await repairable.order.resume(orchestration_backend=backend, instance_id="m")
    assert repairable.COUNTS == {"before": 2}
    await backend.publish("m", "approve", 1)
    assert await repairable.order.resume(
        orchestration_backend=backend, instance_id="m"
    ) == "n: charged 21"


async def test_a_worker_resumes_a_retried_instance(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable import Worker

    backend = DurableBackend(store)
    await _failed(backend, "w")
    _fix(monkeypatch)
    async with Worker(backend, [repairable.order]) as worker:
        await backend.retry("w")
        handle = await worker.resume("w")
        assert await handle.result() == "n: charged 150"
    assert repairable.COUNTS["approved"] == 1 and repairable.COUNTS["after"] == 1
