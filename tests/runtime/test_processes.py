"""Durable instances across real processes on a DiskStateStore.

Every process runs tests/programs/procs.py with the repository on PYTHONPATH, so a step that
runs in one process and is seen in another went through the store, never through memory.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import pytest

from durable import DiskStateStore, DurableBackend

REPO = pathlib.Path(__file__).resolve().parents[2]
PROCS = REPO / "tests" / "programs" / "procs.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

pytestmark = pytest.mark.parametrize("backend", ["asyncio", "trio"])


class Env:
    """A store folder and a side-effect log shared by the processes of one test."""

    def __init__(self, tmp: pathlib.Path, backend: str) -> None:
        self.store, self.log, self.backend = tmp / "store", tmp / "effects.log", backend

    def argv(self, command: str, instance_id: str, *rest: Any) -> list[str]:
        head = [sys.executable, str(PROCS), self.backend, str(self.store), str(self.log)]
        return [*head, command, instance_id, *map(str, rest)]

    def run(self, command: str, instance_id: str, *rest: Any) -> dict[str, Any]:
        done = subprocess.run(
            self.argv(command, instance_id, *rest),
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def spawn(self, command: str, instance_id: str, *rest: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(command, instance_id, *rest),
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def env(tmp_path: pathlib.Path, backend: str) -> Env:
    return Env(tmp_path, backend)


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def wait_for(path: pathlib.Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_start_publish_resume_in_three_processes(env: Env) -> None:
    """An instance started in one process, signalled from a second and resumed in a third finishes
    without re-running any block before its pause."""
    assert env.run("run", "order-1", "order", '"book"', 3) == {"paused": "paid"}
    assert env.lines() == ["order start book"]
    assert env.run("publish", "order-1", "paid") == {"published": ["paid"]}
    assert env.run("run", "order-1", "order", '"ignored"', 0) == {"paused": "shipped"}
    env.run("publish", "order-1", "shipped")
    assert env.run("run", "order-1", "order") == {"result": {"item": "book", "total": 30}}
    assert env.lines() == ["order start book", "order paid 30", "order shipped"]


def test_event_published_while_instance_runs_is_kept(env: Env, tmp_path: pathlib.Path) -> None:
    """An event published by another process while the instance runs between two checkpoints
    survives the instance's next checkpoint and is consumed at its pause."""
    env.run("publish", "w", "first")
    worker = env.spawn("run", "w", "waits_while_running", json.dumps(str(tmp_path)))
    wait_for(tmp_path / "ready", worker)  # the worker is now between two checkpoints
    assert env.run("publish", "w", "third") == {"published": ["third"]}
    (tmp_path / "done").touch()
    assert finish(worker) == {"paused": "second"}  # saved a checkpoint after the publish
    env.run("publish", "w", "second")
    assert env.run("run", "w", "waits_while_running", '"unused"') == {"result": "finished"}
    assert env.lines() == ["first block", "second block", "third block", "end"]


def test_events_published_concurrently_with_checkpoints_are_never_lost(env: Env) -> None:
    """Events published one by one from another process while the instance keeps checkpointing are
    all delivered, each exactly once."""
    n = 40
    worker = env.spawn("drive", "t", "ticks", n)
    publisher = env.spawn("publish", "t", *[f"tick-{i}" for i in range(n // 2)])
    assert finish(publisher) == {"published": [f"tick-{i}" for i in range(n // 2)]}
    events = DurableBackend(DiskStateStore(env.store))
    for i in range(n // 2, n):  # the rest from this process, one at a time, racing the saves
        events.publish_event("t", f"tick-{i}")
        time.sleep(0.01)
    assert finish(worker) == {"result": n}
    assert env.lines() == [f"ticks {n}"]
    assert DiskStateStore(env.store).list_events("t") == []  # every event consumed


def test_nested_call_paused_in_one_process_resumes_in_another(env: Env) -> None:
    """A nested durable call paused in one process is resumed in another, continuing the inner
    frame and then the outer one without re-running either's first block."""
    assert env.run("run", "n", "outer", 20) == {"paused": "inner-go"}
    assert env.lines() == ["outer start", "inner start 21"]
    env.run("publish", "n", "inner-go")
    assert env.run("run", "n", "outer", 0) == {"result": [20, 42]}
    assert env.lines() == ["outer start", "inner start 21", "inner resumed", "outer got 42"]


def test_lambda_held_across_a_pause_resumes_in_another_process(env: Env) -> None:
    """A lambda saved by reference to its definition is rebuilt by a fresh process, sharing
    its cell with the frame's variable there."""
    assert env.run("run", "lam", "keeps_lambda", "[1, 3, 2]") == {"paused": "sort"}
    env.run("publish", "lam", "sort")
    assert env.run("run", "lam", "keeps_lambda", "[1, 3, 2]") == {
        "result": [[3, 2, 1], -2, "keeps_lambda.<locals>.<lambda>"]
    }
    assert env.lines() == ["lambda made -10", "lambda resumed -10"]


def test_finished_instance_answers_from_another_process_without_running(env: Env) -> None:
    """A finished instance queried from another process returns its saved result and runs none of
    its code."""
    env.run("publish", "done", "paid", "shipped")
    assert env.run("run", "done", "order", '"pen"', 2) == {"result": {"item": "pen", "total": 20}}
    before = env.lines()
    assert before == ["order start pen", "order paid 20", "order shipped"]
    assert env.run("run", "done", "order", '"other"', 9) == {"result": {"item": "pen", "total": 20}}
    assert env.lines() == before


def test_failed_instance_answers_from_another_process_without_running(env: Env) -> None:
    """A failed instance queried from another process raises its saved exception and runs none
    of its code."""
    env.run("publish", "f", "go")
    assert env.run("run", "f", "fails", 5) == {"error": ["ValueError", "bad input 5"]}
    assert env.lines() == ["fails start 5", "fails raising"]
    assert env.run("run", "f", "fails", 6) == {"error": ["ValueError", "bad input 5"]}
    assert env.lines() == ["fails start 5", "fails raising"]


def test_two_processes_resuming_one_instance_commit_once(env: Env, tmp_path: pathlib.Path) -> None:
    """Two processes resuming the same instance at once: exactly one commits its next checkpoint
    and the other gets ConcurrentResumeError."""
    assert env.run("run", "c", "contended", json.dumps(str(tmp_path))) == {"paused": "go"}
    env.run("publish", "c", "go")
    workers = [env.spawn("run", "c", "contended", '"unused"') for _ in range(2)]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < 2:
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (tmp_path / "release").touch()
    outcomes = sorted(json.dumps(finish(w)) for w in workers)
    assert json.loads(outcomes[1]) == {"paused": "next"}
    assert json.loads(outcomes[0])["error"][0] == "ConcurrentResumeError"
    assert env.run("run", "c", "contended", '"unused"') == {"paused": "next"}
    assert env.lines().count("contended start") == 1
