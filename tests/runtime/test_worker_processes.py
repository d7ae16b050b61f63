"""Worker processes sharing one store (`durable worker`): SQLite, the disk journal and
PostgreSQL.

Instances of ``programs.fleet.hop`` are started here; two or more ``durable worker``
processes run them while a publisher process publishes their events. Every block of ``hop``
logs its start and end with its process id (tests/programs/fleet.py), so the tests check from
the log that no two processes ever ran one instance's block at the same time, that every
block ran, and — after a worker is killed with SIGKILL — that only the blocks in flight in the
killed worker ran again, and no more of them than it could run at once.
"""

from __future__ import annotations

import collections
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import anyio
import pytest

import durable
from durable import DiskStateStore, DurableBackend, SQLiteStateStore, StateStore

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from programs import fleet  # noqa: E402

# Short enough that the survivors take the killed worker's instances over soon, long enough
# that a loaded machine renews every lease in time (a late renewal lets another worker take
# an instance over: correct, at least once, but the test counts re-runs).
LEASE = 2.0

PUBLISHER = """
import sys
sys.path.insert(0, sys.argv[3])
from test_worker_processes import open_store
from durable import DurableBackend
path, n = sys.argv[1], int(sys.argv[2])
store = open_store(path)
backend = DurableBackend(store)
for round_ in range(3):
    for i in range(n):
        backend.publish_event(f"h-{i}", "go", round_ + 1)
store.close()
"""


def open_store(location: str | pathlib.Path) -> StateStore:
    """The store at `location`: a ``postgresql://…?schema=NAME`` URL, an SQLite file (.db)
    or a journal folder — what ``durable --store`` takes."""
    text = str(location)
    if text.startswith("postgresql://"):
        from durable import PostgresStateStore

        dsn, _, schema = text.partition("?schema=")
        return PostgresStateStore(dsn, schema=schema)
    path = pathlib.Path(text)
    return SQLiteStateStore(path) if path.suffix == ".db" else DiskStateStore(path)


def location(kind: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if kind == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        return f"{dsn}?schema={request.getfixturevalue('postgres_schema')}"
    return str(tmp_path / ("fleet.db" if kind == "sqlite" else "fleet"))


@pytest.fixture(params=["sqlite", "disk", "postgres"])
def store_path(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    return location(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres", pytest.param("disk", marks=pytest.mark.exhaustive)])
def kill_store_path(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """As `store_path`; the disk journal in the exhaustive tier (its kill -9 tests are in
    tests/runtime/test_crash.py)."""
    return location(request.param, request, tmp_path)


def start_instances(path: str, n: int, log: pathlib.Path) -> None:
    os.environ["DURABLE_FLEET_LOG"] = str(log)
    store = open_store(path)
    backend = DurableBackend(store)

    async def start() -> None:
        for i in range(n):
            with pytest.raises(durable.Suspended):
                await fleet.hop(i, orchestration_backend=backend, instance_id=f"h-{i}")

    anyio.run(start)
    store.close()


def worker(path: str, log: pathlib.Path, *, lease: float = 30.0) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
        "DURABLE_FLEET_LOG": str(log),
    }
    argv = [sys.executable, "-m", "durable", "--store", path, "worker"]
    argv += ["--import", "programs.fleet", "--poll-interval", "0.05", "--concurrency", "20"]
    argv += ["--lease", str(lease), "--progress-every", "60", "--grace", "5"]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "running ...": its signal handlers are in place
    assert "running" in line, line
    return proc


def wait_all_done(path: str, n: int, procs: list[subprocess.Popen[str]]) -> None:
    store = open_store(path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            headers = [store.read_header(f"h-{i}") for i in range(n)]
            if all(h is not None and h.status == "completed" for h in headers):
                return
            if all(p.poll() is not None for p in procs):
                break
            time.sleep(0.1)
        pytest.fail(f"not every instance completed; workers: {[p.poll() for p in procs]}")
    finally:
        store.close()


def stop(procs: list[subprocess.Popen[str]]) -> list[str]:
    errors = []
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            errors.append(proc.communicate(timeout=60)[1])
        finally:
            if proc.poll() is None:
                proc.kill()
    return errors


def blocks(log: pathlib.Path) -> Iterator[tuple[str, str, int, int]]:
    for line in log.read_text().splitlines():
        kind, instance_id, block, pid = line.split()
        yield kind, instance_id, int(block), int(pid)


def check_log(log: pathlib.Path, n: int, killed: int | None = None) -> list[tuple[str, int]]:
    """No block of one instance ran in two processes at once; every block of every instance
    ran; returns the blocks that ran more than once (each must have been cut short)."""
    running: dict[str, tuple[int, int]] = {}  # instance -> (block, pid) started, not ended
    starts: collections.Counter[tuple[str, int]] = collections.Counter()
    ends: collections.Counter[tuple[str, int]] = collections.Counter()
    for kind, instance_id, block, pid in blocks(log):
        if kind == "start":
            if instance_id in running:
                other_block, other = running[instance_id]
                # only a killed process may leave a block started and never ended
                assert other == killed and other != pid, (
                    f"{instance_id}: block {block} started in {pid} while block {other_block} "
                    f"ran in {other}"
                )
            running[instance_id] = (block, pid)
            starts[(instance_id, block)] += 1
        else:
            assert running.get(instance_id) == (block, pid), (instance_id, block, pid)
            del running[instance_id]
            ends[(instance_id, block)] += 1
    wanted = {(f"h-{i}", b) for i in range(n) for b in range(4)}
    assert set(ends) == wanted  # every block ran to its end
    return [key for key, count in starts.items() if count > 1]


def check_store(location: str, n: int) -> None:
    """Every instance completed with the right result (every event consumed once), and no
    checkpoint was committed twice: the audit history's checkpoints carry strictly growing
    sequence numbers, the last one the instance's."""
    store = open_store(location)
    backend = DurableBackend(store)

    async def results() -> list[int]:
        return [
            await fleet.hop.resume(orchestration_backend=backend, instance_id=f"h-{i}")
            for i in range(n)
        ]

    try:
        for i in range(n):
            header = store.read_header(f"h-{i}")
            assert header is not None and header.status == "completed"
            history = backend.read_history(f"h-{i}")
            seqs = [e["seq"] for e in history if e["kind"] == "block.completed"]
            assert seqs == sorted(set(seqs)) and seqs[-1] == header.seq, (i, seqs)
            assert not store.read(f"h-{i}").inbox
        assert anyio.run(results) == [i + 1 + 2 + 3 for i in range(n)]  # each payload once
    finally:
        store.close()


def publish_all(location: str, n: int) -> subprocess.Popen[str]:
    """The publisher: a process of its own publishing three rounds of events to all."""
    argv = [sys.executable, "-c", PUBLISHER, location, str(n), str(HERE)]
    return subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)


def run_fleet(location: str, tmp_path: pathlib.Path, n: int, workers: int) -> None:
    log = tmp_path / "blocks.log"
    start_instances(location, n, log)
    procs = [worker(location, log) for _ in range(workers)]
    publisher = publish_all(location, n)
    assert publisher.wait(timeout=240) == 0, publisher.communicate()[1]
    wait_all_done(location, n, procs)
    errors = stop(procs)
    assert all(p.returncode == 0 for p in procs), errors
    assert check_log(log, n) == []  # no block ran twice
    check_store(location, n)
    finished = sum(int(e.split("stopped: ")[1].split()[0]) for e in errors if "stopped: " in e)
    assert finished == n  # every instance completed exactly once, in one of the workers


def test_two_worker_processes_share_a_store(store_path: str, tmp_path: pathlib.Path) -> None:
    run_fleet(store_path, tmp_path, 60, 2)


@pytest.mark.exhaustive
def test_four_worker_processes_1000_instances_three_waits(
    store_path: str, tmp_path: pathlib.Path
) -> None:
    run_fleet(store_path, tmp_path, 1000, 4)


@pytest.mark.parametrize(
    ("n", "workers"), [(80, 2), pytest.param(1000, 4, marks=pytest.mark.exhaustive)]
)
def test_a_worker_killed_with_sigkill_loses_nothing(
    kill_store_path: str, tmp_path: pathlib.Path, n: int, workers: int
) -> None:
    """`workers` worker processes; one is killed with SIGKILL mid-run and a new one starts.
    Every instance completes once with every event consumed once; the only blocks that run
    twice are those the killed worker ran since its runs' last checkpoints, in no more
    instances than it runs at once."""
    log = tmp_path / "blocks.log"
    start_instances(kill_store_path, n, log)
    first = worker(kill_store_path, log, lease=LEASE)
    publisher = publish_all(kill_store_path, n)
    deadline = time.monotonic() + 60  # until the first worker has run a fair share of blocks
    while time.monotonic() < deadline:
        if log.exists() and sum(1 for b in blocks(log) if b[3] == first.pid) >= n // 4:
            break
        time.sleep(0.01)
    others = [worker(kill_store_path, log, lease=LEASE) for _ in range(workers - 1)]  # all run now
    time.sleep(0.05)
    first.kill()  # SIGKILL, mid-run
    first.wait()
    others.append(worker(kill_store_path, log, lease=LEASE))  # the restarted worker
    assert publisher.wait(timeout=240) == 0, publisher.communicate()[1]
    wait_all_done(kill_store_path, n, others)
    errors = stop(others)
    assert all(p.returncode == 0 for p in others), errors
    again = check_log(log, n, killed=first.pid)
    # at most the killed worker's concurrency of runs in flight; a run may have gone through
    # several blocks since its last checkpoint (a wait whose event had come goes straight on)
    assert len({instance_id for instance_id, _ in again}) <= 20
    by_first = {(i, b) for kind, i, b, pid in blocks(log) if kind == "start" and pid == first.pid}
    assert set(again) <= by_first  # only blocks the killed worker was running ran again
    check_store(kill_store_path, n)
    print(f"\n{len(again)} block(s) in flight at the kill ran again: {sorted(again)}")
