"""Group commit (`durable.stores._batch.GroupCommit`), shared by the SQLite and PostgreSQL
stores: concurrent writes share batches, each writer gets its own outcome once the batch that
holds its write has run, a failing batch fails each of its writes, and a writer that stops
waiting (Ctrl-C in the main thread) never leaves the queue without a leader."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from durable.stores._batch import GroupCommit, Write


class Recorder:
    """A `run_batch` that records its batches and can be held while writes queue."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.running = threading.Event()

    def __call__(self, batch: list[Write[None, Any]]) -> None:
        self.running.set()
        self.hold.wait(10)
        self.batches.append([str(job.instance_id) for job in batch])
        for job in batch:
            job.result = job.body(None)


def write(name: str) -> Write[None, str]:
    return Write("write", name, lambda _: f"result of {name}")


def test_every_write_runs_once_and_its_writer_gets_its_own_result() -> None:
    recorder = Recorder()
    group: GroupCommit[None] = GroupCommit(recorder)
    results: dict[str, str] = {}

    def writer(n: int) -> None:
        for k in range(20):
            name = f"{n}-{k}"
            results[name] = group.submit(write(name))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    names = [f"{n}-{k}" for n in range(16) for k in range(20)]
    assert results == {name: f"result of {name}" for name in names}
    ran = [name for batch in recorder.batches for name in batch]
    assert sorted(ran) == sorted(names)  # each exactly once


def test_writes_queued_behind_a_running_batch_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.hold.clear()
    group: GroupCommit[None] = GroupCommit(recorder)
    first = threading.Thread(target=group.submit, args=(write("first"),))
    first.start()
    assert recorder.running.wait(10)
    followers = [threading.Thread(target=group.submit, args=(write(f"w{n}"),)) for n in range(5)]
    for thread in followers:
        thread.start()
    _wait_for(lambda: len(group._queue) == 5)
    recorder.hold.set()
    for thread in [first, *followers]:
        thread.join(10)
    assert recorder.batches[0] == ["first"]
    assert sorted(recorder.batches[1]) == [f"w{n}" for n in range(5)]
    assert len(recorder.batches) == 2


def test_a_failing_batch_fails_each_of_its_writes_and_the_next_batch_runs() -> None:
    calls = []

    def run_batch(batch: list[Write[None, Any]]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise OSError("disk gone")
        for job in batch:
            job.result = "ok"

    group: GroupCommit[None] = GroupCommit(run_batch)
    with pytest.raises(OSError, match="disk gone"):
        group.submit(write("a"))
    assert group.submit(write("b")) == "ok"


class InterruptedTurn:
    """A write's ``turn`` whose blocking wait is interrupted (as by Ctrl-C): at once
    (``when="queued"``), or just after the leader released it (``when="woken"``), before the
    writer took it."""

    def __init__(self, when: str) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.when = when

    def acquire(self, blocking: bool = True) -> bool:
        if not blocking:
            return self.lock.acquire(blocking=False)
        if self.when == "woken":
            _wait_for(lambda: not self.lock.locked())
        raise KeyboardInterrupt

    def release(self) -> None:
        self.lock.release()


@pytest.mark.parametrize("when", ["queued", "woken"])
def test_a_writer_that_stops_waiting_leaves_a_leader_for_the_others(when: str) -> None:
    recorder = Recorder()
    recorder.hold.clear()
    group: GroupCommit[None] = GroupCommit(recorder)
    first = threading.Thread(target=group.submit, args=(write("first"),))
    first.start()
    assert recorder.running.wait(10)
    quitter = write("quitter")
    quitter.turn = InterruptedTurn(when)  # type: ignore[assignment]
    stopped: list[BaseException] = []

    def quit_waiting() -> None:
        try:
            group.submit(quitter)
        except KeyboardInterrupt as e:
            stopped.append(e)

    quitting = threading.Thread(target=quit_waiting)
    quitting.start()
    if when == "queued":
        quitting.join(10)  # it left before the batch ended
        assert stopped and group._queue == []
    else:
        _wait_for(lambda: group._queue == [quitter])
    later = threading.Thread(target=group.submit, args=(write("later"),))
    later.start()
    recorder.hold.set()
    for thread in (first, quitting, later):
        thread.join(10)
        assert not thread.is_alive()
    assert stopped
    assert ["later"] in recorder.batches  # someone led the batch after the quitter left
    assert all("quitter" not in batch for batch in recorder.batches)
    assert group.submit(write("afterwards")) == "result of afterwards"


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)
