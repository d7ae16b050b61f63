"""`durable.Worker`: many instances in one process, woken by in-process publishes, timers and
polls of `StateStore.ready`; handles; `current_instance()`; the `durable worker` command.

Async tests run on asyncio and trio; those taking ``store`` run on every store.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import pytest
from programs import worker_flows

import durable
from durable import (
    DiskStateStore,
    DurableBackend,
    InMemoryStateStore,
    InstanceCancelledError,
    InstanceExistsError,
    InstanceNotFoundError,
    SQLiteStateStore,
    StateStore,
    StoreError,
    Worker,
    make_durable,
)
from durable.testing import VirtualClock, capture_events

ROOT = pathlib.Path(__file__).resolve().parents[2]


async def _fragile(n: int) -> int:
    await durable.wait_for_event("go")
    if n == 3:
        raise ValueError(f"instance {n} broke")
    return n


async def _sleepy(days: int) -> str:
    await durable.sleep(86400 * days)
    return f"slept {days}"


@durable.step
async def _where_async() -> durable.InstanceInfo:
    return durable.current_instance()


@durable.step
def _where_sync() -> durable.InstanceInfo:
    return durable.current_instance()


async def _introspect() -> list[durable.InstanceInfo]:
    here = durable.current_instance()
    in_async_step = await _where_async()
    in_sync_step = await _where_sync()
    return [here, in_async_step, in_sync_step]


@durable.step(retry=durable.RetryPolicy(max_attempts=3, initial_interval=60, jitter=False))
async def _flaky_step(tries: list[int]) -> str:
    tries.append(1)
    if durable.current_step().attempt < 2:
        raise ConnectionError("try again")
    return "charged"


async def _charges() -> str:
    return await _flaky_step([])


async def _child(n: int) -> int:
    return n + await durable.wait_for_event("child-go")


async def _parent() -> list[int]:
    return await durable.gather(child(1), child(2))


three_waits = worker_flows.relay  # n + the payloads of three "go" events
fragile = make_durable(_fragile)
sleepy = make_durable(_sleepy)
introspect = make_durable(_introspect)
charges = make_durable(_charges)
child = make_durable(_child)
parent = make_durable(_parent)


@pytest.mark.parametrize("scale", [1, pytest.param(5, marks=pytest.mark.exhaustive)])
async def test_200_instances_three_waits_each_events_from_another_task(
    store: StateStore, scale: int
) -> None:
    backend = DurableBackend(store)
    # 1,000 instances in the exhaustive tier; fewer on disk by default: each commit an fsync
    n = (60 if isinstance(store, DiskStateStore) and scale == 1 else 200) * scale
    async with Worker(backend, [three_waits], concurrency=50, poll_interval=30) as worker:
        handles = [await worker.start(three_waits, i, instance_id=f"w-{i}") for i in range(n)]

        async def publisher() -> None:
            for round_ in range(3):
                for i in range(n):
                    await backend.publish(f"w-{i}", "go", round_ + 1)

        async with anyio.create_task_group() as group:
            group.start_soon(publisher)
            with anyio.fail_after(60):
                results = [await h.result() for h in handles]
        assert results == [i + 6 for i in range(n)]
    stats = worker.stats()  # once the worker stopped: a handle may see the store first
    assert (stats.completed, stats.failed, stats.waiting) == (n, 0, 0)


async def test_publish_event_from_another_thread_wakes_without_polling() -> None:
    backend = DurableBackend(InMemoryStateStore())
    async with Worker(backend, [three_waits], poll_interval=3600) as worker:
        handle = await worker.start(three_waits, 10, instance_id="t-1")

        def publish_all() -> None:
            for _ in range(3):
                backend.publish_event("t-1", "go", 1)
                time.sleep(0.01)

        thread = threading.Thread(target=publish_all)
        thread.start()
        with anyio.fail_after(10):  # far less than the poll interval
            assert await handle.result() == 13
        thread.join()


@pytest.mark.parametrize("kind", ["disk", "sqlite"])
@pytest.mark.parametrize("n", [5, pytest.param(1000, marks=pytest.mark.exhaustive)])
async def test_events_published_by_another_process_are_found_by_polling(
    tmp_path: pathlib.Path, kind: str, n: int
) -> None:
    path = tmp_path / ("store.db" if kind == "sqlite" else "store")
    store = SQLiteStateStore(path) if kind == "sqlite" else DiskStateStore(path)
    backend = DurableBackend(store)
    code = (
        "import sys\n"
        "from durable import DiskStateStore, DurableBackend, SQLiteStateStore\n"
        "path, n = sys.argv[1], int(sys.argv[2])\n"
        "store = SQLiteStateStore(path) if path.endswith('.db') else DiskStateStore(path)\n"
        "backend = DurableBackend(store)\n"
        "for _ in range(3):\n"
        "    for i in range(n):\n"
        "        backend.publish_event(f'p-{i}', 'go', 2)\n"
    )
    async with Worker(backend, [three_waits], poll_interval=0.05) as worker:
        handles = [await worker.start(three_waits, i, instance_id=f"p-{i}") for i in range(n)]
        done = await anyio.run_process([sys.executable, "-c", code, str(path), str(n)])
        assert done.returncode == 0
        with anyio.fail_after(240):
            assert [await h.result() for h in handles] == [i + 6 for i in range(n)]
    store.close()


async def test_timers_follow_the_backends_virtual_clock(store: StateStore) -> None:
    clock = VirtualClock()
    backend = DurableBackend(store, clock=clock)
    async with Worker(backend, [sleepy], poll_interval=3600, timer_check=0.01) as worker:
        handles = [await worker.start(sleepy, d, instance_id=f"s-{d}") for d in (1, 30)]
        await anyio.sleep(0.1)
        assert worker.stats().waiting == 2  # no real time makes a virtual day pass
        clock.advance(86400 * 2)
        with anyio.fail_after(10):
            assert await handles[0].result() == "slept 1"
        assert worker.stats().waiting == 1
        clock.advance(86400 * 30)
        with anyio.fail_after(10):
            assert await handles[1].result() == "slept 30"


async def test_step_retries_wait_on_the_virtual_clock() -> None:
    clock = VirtualClock()
    backend = DurableBackend(InMemoryStateStore(), clock=clock)
    async with Worker(backend, [charges], poll_interval=3600, timer_check=0.01) as worker:
        handle = await worker.start(charges, instance_id="c-1")
        await anyio.sleep(0.05)
        clock.advance(120)
        with anyio.fail_after(10):
            assert await handle.result() == "charged"


async def test_a_crashing_instance_does_not_stop_the_others(store: StateStore) -> None:
    backend = DurableBackend(store)
    with capture_events() as events:
        async with Worker(backend, [fragile], poll_interval=30) as worker:
            handles = [await worker.start(fragile, i, instance_id=f"f-{i}") for i in range(6)]
            for i in range(6):
                await backend.publish(f"f-{i}", "go")
            with anyio.fail_after(30):
                for i, handle in enumerate(handles):
                    if i == 3:
                        with pytest.raises(ValueError, match="instance 3 broke"):
                            await handle.result()
                    else:
                        assert await handle.result() == i
    assert (worker.stats().completed, worker.stats().failed) == (5, 1)
    assert store.read_header("f-3").status == "failed"  # type: ignore[union-attr]
    failed = [e for e in events if e["event"] == "worker.instance_failed"]
    assert [e["instance_id"] for e in failed] == ["f-3"]


async def test_a_finished_instance_answers_a_new_handle_from_the_store() -> None:
    backend = DurableBackend(InMemoryStateStore())
    async with Worker(backend, [fragile]) as worker:
        handle = await worker.start(fragile, 3, instance_id="x")
        await backend.publish("x", "go")
        with pytest.raises(ValueError):
            await handle.result()
    async with Worker(backend, [fragile]) as other:
        with pytest.raises(ValueError, match="instance 3 broke"):
            await other.get_handle("x").result()


async def test_cancel_wakes_the_instance_and_the_handle_raises() -> None:
    backend = DurableBackend(InMemoryStateStore())
    async with Worker(backend, [three_waits], poll_interval=3600) as worker:
        handle = await worker.start(three_waits, 0, instance_id="k")
        backend.cancel("k")
        with anyio.fail_after(10), pytest.raises(InstanceCancelledError):
            await handle.result()


async def test_execute_start_and_different_arguments(store: StateStore) -> None:
    backend = DurableBackend(store)
    async with Worker(backend, [], poll_interval=30) as worker:
        handle = await worker.start(three_waits, 5, instance_id="a")
        same = await worker.start(three_waits, 5, instance_id="a")  # the same: fine
        assert same is handle
        with pytest.raises(InstanceExistsError, match="other arguments"):
            await worker.start(three_waits, 6, instance_id="a")
        with pytest.raises(InstanceExistsError, match="runs"):
            await worker.start(fragile, 5, instance_id="a")
        for _ in range(3):
            await backend.publish("a", "go", 1)
        with anyio.fail_after(10):
            assert await handle.result() == 8
            assert len(await worker.execute(introspect, instance_id="b")) == 3


async def test_resume_only_calls() -> None:
    backend = DurableBackend(InMemoryStateStore())
    with pytest.raises(InstanceNotFoundError):
        await three_waits.resume(orchestration_backend=backend, instance_id="none")
    with pytest.raises(durable.PauseForEventException):
        await three_waits(1, orchestration_backend=backend, instance_id="r")
    for _ in range(3):
        backend.publish_event("r", "go", 1)
    async with Worker(backend, [three_waits]) as worker:
        with pytest.raises(InstanceNotFoundError):
            await worker.resume("none")
        with anyio.fail_after(10):
            assert await (await worker.resume("r")).result() == 4
    assert await three_waits.resume(orchestration_backend=backend, instance_id="r") == 4


async def test_current_instance_in_a_durable_function_and_its_steps() -> None:
    with pytest.raises(LookupError):
        durable.current_instance()
    backend = DurableBackend(InMemoryStateStore())
    here, in_async, in_sync = await introspect(orchestration_backend=backend, instance_id="ci")
    assert here == durable.InstanceInfo("ci", introspect.name, 1)
    assert in_async.instance_id == in_sync.instance_id == "ci"
    assert in_async.program == in_sync.program == introspect.name
    assert in_async.seq >= 1 and in_sync.seq > in_async.seq


async def test_an_event_for_a_gather_child_resumes_its_parent() -> None:
    backend = DurableBackend(InMemoryStateStore())
    async with Worker(backend, [parent], poll_interval=3600) as worker:
        handle = await worker.start(parent, instance_id="g")
        ids = [h for h in backend.store.list_instances() if h.startswith("g/")]
        assert len(ids) == 2
        for i, child_id in enumerate(sorted(ids)):
            await backend.publish(child_id, "child-go", 10 * (i + 1))
        with anyio.fail_after(10):
            assert await handle.result() == [11, 22]


class _FlakyStore(InMemoryStateStore):
    """Fails the first two commits of every instance."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, int] = {}

    def commit(self, instance_id: str, *args: Any, **kwargs: Any) -> bool:
        count = self.failures.get(instance_id, 0)
        if count < 2 and args[0] > 0:  # not the start: let the instance exist
            self.failures[instance_id] = count + 1
            raise StoreError("disk on fire")
        return super().commit(instance_id, *args, **kwargs)


async def test_store_errors_are_retried_with_backoff() -> None:
    backend = DurableBackend(_FlakyStore())
    with capture_events() as events:
        async with Worker(backend, [three_waits], poll_interval=3600) as worker:
            handle = await worker.start(three_waits, 0, instance_id="s")
            for _ in range(3):
                await backend.publish("s", "go", 1)
            with anyio.fail_after(10):
                assert await handle.result() == 3
    assert [e for e in events if e["event"] == "worker.store_error"]


async def test_instances_of_other_programs_are_skipped() -> None:
    backend = DurableBackend(InMemoryStateStore())
    with pytest.raises(durable.PauseForEventException):
        await fragile(1, orchestration_backend=backend, instance_id="other")
    backend.publish_event("other", "go")
    with capture_events() as events:
        async with Worker(backend, [three_waits], poll_interval=0.01):
            await anyio.sleep(0.1)  # polls never claim it: not a program of this worker
            assert backend.store.lease("other") is None
            for _ in range(3):  # a wake-up in this process names it: looked at, skipped
                await backend.publish("other", "go")
                await anyio.sleep(0.02)
    skipped = [e for e in events if e["event"] == "worker.instance_skipped"]
    assert [e["instance_id"] for e in skipped] == ["other"]  # logged once
    assert backend.store.read_header("other").status == "paused"  # type: ignore[union-attr]


# -- the command ------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_durable_worker_command_runs_instances_and_stops_on_sigterm(
    tmp_path: pathlib.Path, stop: signal.Signals
) -> None:
    folder = tmp_path / "store"
    store = DiskStateStore(folder)
    backend = DurableBackend(store)

    async def setup() -> None:
        for i in range(20):
            with pytest.raises(durable.Suspended):
                await worker_flows.relay(i, orchestration_backend=backend, instance_id=f"r-{i}")
            for _ in range(3):
                await backend.publish(f"r-{i}", "go", 1)
        for i in range(5):
            with pytest.raises(durable.Suspended):
                await worker_flows.nap(i, orchestration_backend=backend, instance_id=f"n-{i}")

    anyio.run(setup)
    pending = [f"r-{i}" for i in range(20)] + [f"n-{i}" for i in range(5)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    argv = [sys.executable, "-m", "durable", "--store", str(folder), "worker"]
    argv += [
        "--import",
        "programs.worker_flows",
        "--poll-interval",
        "0.05",
        "--progress-every",
        "0.2",
    ]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(store.read_header(i).status == "completed" for i in pending):  # type: ignore[union-attr]
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a progress line or two
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert all(store.read_header(i).status == "completed" for i in pending), err  # type: ignore[union-attr]
    assert "worker_flows:_relay" in err
    assert "completed" in err and "/s" in err
    assert f"{stop.name}: stopping" in err
    assert "stopped: 25 completed, 0 failed" in err
    store.close()
