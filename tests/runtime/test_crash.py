"""SIGKILL at random moments: a durable loop on a DiskStateStore or an SQLiteStateStore
survives every kill.

The worker (tests/programs/crash_worker.py) appends "step i" to a side-effect log, then pauses
on "tick-i"; the events are published up front, so each pause is a checkpoint that goes on.
Blocks are at-least-once: a kill may repeat the step it interrupted, never skip one.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import subprocess
import sys
import time
from typing import Any

import pytest

from durable import DiskStateStore, DurableBackend, SQLiteStateStore, StateStore
from durable._model import read_snapshot

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "programs" / "crash_worker.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL semantics are POSIX")
BACKENDS = ("asyncio", "trio")


def backends(default: str) -> pytest.MarkDecorator:
    """Both runtimes, the one not `default` in the exhaustive tier only: each loop takes seconds,
    so the default run kills one loop per runtime (tests/conftest.py)."""
    return pytest.mark.parametrize(
        "backend",
        [b if b == default else pytest.param(b, marks=pytest.mark.exhaustive) for b in BACKENDS],
    )


def check_log(lines: list[str], n: int, kill_points: list[int]) -> None:
    """Every step 0..n-1 in order; a repeat only at a line count where a kill happened."""
    steps = [int(line.removeprefix("step ")) for line in lines]
    assert sorted(set(steps)) == list(range(n)), lines
    assert steps[0] == 0
    for k in range(1, len(steps)):
        assert steps[k] in (steps[k - 1], steps[k - 1] + 1), (k, lines)
        if steps[k] == steps[k - 1]:
            assert k in kill_points, f"step {steps[k]} repeated at line {k} with no kill there"
    assert len(steps) - n <= len(kill_points)


def open_store(path: pathlib.Path) -> StateStore:
    return SQLiteStateStore(path) if path.suffix == ".db" else DiskStateStore(path)


def check_store(path: pathlib.Path, instance_id: str) -> None:
    """The snapshot (if any) reads and agrees with its header; every event parses; a
    damaged SQLite file would fail its integrity check."""
    store = open_store(path)
    if isinstance(store, SQLiteStateStore):
        store.check()
    stored = store.read(instance_id)
    store.close()
    if stored.data is not None:
        snapshot = read_snapshot(instance_id, stored.data)
        assert stored.header is not None and stored.header.seq == snapshot.seq
    for event in stored.inbox:
        assert json.loads(event.data)["name"] == event.name


def run_with_kills(
    tmp: pathlib.Path,
    backend: str,
    *,
    n: int,
    pad: int,
    sleep: float,
    kills: int,
    max_delay: float,
    seed: int,
    kind: str = "disk",
) -> tuple[dict[str, Any], list[int], int]:
    """Start the worker, SIGKILL it after random delays `kills` times, then let it finish."""
    store = tmp / ("store.db" if kind == "sqlite" else "store")
    log, iid = tmp / "effects.log", "crash-loop"
    events = DurableBackend(open_store(store))
    for i in range(n):
        events.publish_event(iid, f"tick-{i}")
    events.store.close()
    rng = random.Random(seed)
    argv = [
        sys.executable,
        str(WORKER),
        backend,
        str(store),
        str(log),
        iid,
        str(n),
        str(pad),
        str(sleep),
    ]
    kill_points: list[int] = []
    temps: set[str] = set()  # temp files left by kills that landed inside a write
    for attempt in range(kills + 20):
        proc = subprocess.Popen(
            argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.communicate()
        if attempt < kills:
            time.sleep(rng.uniform(0.0, max_delay))
            proc.kill()
        # Read the rest through the same pipe: `communicate` would miss what `readline`
        # already buffered (the result, when the run finished at once).
        out = proc.stdout.read()
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=60)
        if proc.returncode == -9:
            kill_points.append(len(log.read_text().splitlines()) if log.exists() else 0)
            if store.is_dir():
                temps.update(p.name for p in store.rglob(".tmp-*"))
            check_store(store, iid)
            continue
        assert proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1]), kill_points, len(temps)
    raise AssertionError("the worker never finished")


@backends(default="asyncio")
@pytest.mark.parametrize("kind", ["disk", pytest.param("sqlite", marks=pytest.mark.exhaustive)])
def test_random_kills_during_a_long_loop(tmp_path: pathlib.Path, backend: str, kind: str) -> None:
    """Killed with SIGKILL at random moments and restarted, a 60-step durable loop ends with the
    right result and every step run in order, repeated at most once per kill."""
    n, started = 60, time.monotonic()
    result, kill_points, _ = run_with_kills(
        tmp_path,
        backend,
        n=n,
        pad=0,
        sleep=0.02,
        kills=12,
        max_delay=0.16,
        seed=7 + len(backend),
        kind=kind,
    )
    assert result == {"result": [sum(range(n)), 0]}
    check_log((tmp_path / "effects.log").read_text().splitlines(), n, kill_points)
    assert len(kill_points) >= 8, f"only {len(kill_points)} kills landed before the end"
    elapsed = time.monotonic() - started
    print(f"\n{backend}: {len(kill_points)} kills at log lines {kill_points}, {elapsed:.1f}s")


@backends(default="trio")
@pytest.mark.parametrize("kind", ["disk", "sqlite"])
def test_kills_during_snapshot_writes_never_tear_the_store(
    tmp_path: pathlib.Path, backend: str, kind: str
) -> None:
    """Kills landing while large snapshots are written in a tight loop always leave a snapshot
    that parses, and the loop still finishes with every step run."""
    n, pad, started = 60, 400_000, time.monotonic()
    result, kill_points, temps = run_with_kills(
        tmp_path, backend, n=n, pad=pad, sleep=0, kills=15, max_delay=0.05, seed=99, kind=kind
    )
    assert result == {"result": [sum(range(n)), pad]}
    check_log((tmp_path / "effects.log").read_text().splitlines(), n, kill_points)
    elapsed = time.monotonic() - started
    print(
        f"\n{backend}: {len(kill_points)} kills at {kill_points}, {temps} writes cut, "
        f"{elapsed:.1f}s"
    )
