"""Steps and fan-out under real `kill -9`: attempts, backoff, idempotency keys, and no
completed step or finished child running again."""

from __future__ import annotations

import collections
import json
import pathlib
import random
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "programs" / "step_worker.py"
ENV = {**__import__("os").environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_with_kills(tmp: pathlib.Path, backend: str, kills: int, seed: int) -> tuple[object, int]:
    store, log = tmp / "store", tmp / "effects.log"
    argv = [sys.executable, str(WORKER), backend, str(store), str(log), "flow"]
    rng = random.Random(seed)
    landed = 0
    for attempt in range(kills + 10):
        proc = subprocess.Popen(
            argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.communicate()
        if attempt < kills:
            time.sleep(rng.uniform(0.0, 0.25))
            proc.kill()
        # Read the rest through the same pipe: `communicate` would miss what `readline`
        # already buffered (the result, when the run finished at once).
        out = proc.stdout.read()
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=60)
        if proc.returncode == -9:
            landed += 1
            continue
        assert proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])["result"], landed
    raise AssertionError("the worker never finished")


def test_steps_and_gather_survive_kill_9(tmp_path: pathlib.Path, backend: str) -> None:
    result, landed = run_with_kills(tmp_path, backend, kills=8, seed=11 + len(backend))
    assert result == ["r0", "r1", "r2", 0, 10, 20, 30]
    lines = [line.split() for line in (tmp_path / "effects.log").read_text().splitlines()]
    by_call: dict[tuple[str, str], list[list[str]]] = collections.defaultdict(list)
    for kind, step, call, attempt, key in lines:
        by_call[(step, call)].append([kind, attempt, key])
    assert sorted(by_call) == [("charge", "0"), ("charge", "1"), ("charge", "2")] + [
        ("pack", str(n)) for n in range(4)
    ]
    for (step, _), entries in by_call.items():
        keys = {key for _, _, key in entries}
        assert len(keys) == 1, f"{step}: one idempotency key for every attempt and re-run"
        ends = [i for i, (kind, _, _) in enumerate(entries) if kind == "end"]
        assert ends, f"{step} never completed"
        # A completed step runs again only if a kill landed between its return and the
        # checkpoint that saves its result (the history below holds the exact count).
        reruns = sum(kind == "start" for kind, _, _ in entries[ends[0] + 1 :])
        assert reruns <= landed
        attempts = [int(a) for kind, a, _ in entries if kind == "start"]
        assert attempts == sorted(attempts), "attempt numbers never go back"
        if step == "charge":
            # Attempts 1 and 2 fail, 3 succeeds; a kill may repeat an attempt, never skip one.
            assert set(attempts) == {1, 2, 3}
            fails = [a for kind, a, _ in entries if kind == "fail"]
            assert sorted(set(fails)) == ["1", "2"] and fails == sorted(fails)
    # Exactly one committed completion per step call, in the instances' audit histories.
    from durable import DiskStateStore, DurableBackend

    events = DurableBackend(DiskStateStore(tmp_path / "store"))
    completed = collections.Counter()
    for instance_id in events.store.list_instances():
        for entry in events.read_history(instance_id):
            if entry["kind"] == "step.completed":
                completed[(instance_id == "flow", entry["step"].rsplit(":", 1)[1])] += 1
    assert completed == {(True, "charge"): 3, (False, "pack"): 4}
    print(f"\n{backend}: {landed} kills landed")
