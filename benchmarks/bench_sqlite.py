"""`SQLiteStateStore`: a checkpoint against a raw SQLite commit, and resuming late in a long run.

Run from the repository root: ``.venv/bin/python benchmarks/bench_sqlite.py [--quick]``.
Prints ratios measured in this one run; asserts nothing about timing.

1. **One checkpoint against one SQLite WAL ``synchronous=FULL`` commit of the same bytes.**
   A durable function awaits a trivial ``@durable.step`` in a loop on
   ``SQLiteStateStore(synchronous="FULL")``; each completed step is one checkpoint (one
   ``BEGIN IMMEDIATE`` … ``COMMIT``, one fsync of the WAL). The figure is the time per
   completed step against the time of ``INSERT OR REPLACE`` of a row holding the same bytes
   (snapshot + header) into a WAL database with ``synchronous=FULL``, one commit each, through
   the same stdlib `sqlite3`. Goal: at most 1.5x. Then, measured apart in the same
   run, where a checkpoint's time goes: the store's `commit` of that checkpoint alone (same
   header, snapshot and audit entries, called from one thread with no event loop), the
   runtime alone (the same steps on `InMemoryStateStore`), and what is left (the hand-off of
   the commit to a store thread and back). Every figure is the same statistic: the mean over a
   run of as many commits as a run has checkpoints, median of the runs (fsync's slow tail
   counts alike on both sides).
2. **Resume after 10,000 checkpoints against after 10.** Two instances of a loop that waits
   for an event; A has made 10 checkpoints, B 10,000 (driven with ``synchronous=NORMAL`` to
   save time; the store is then reopened with ``FULL``). Then cycles are timed alternately on
   A and B: publish, then the call that loads the snapshot, consumes the event, runs to the
   next wait and commits. Resuming never reads the history, so the ratio of the medians B/A
   should be close to 1. Goal: at most 1.2x.
3. **Group commit.** Store-level checkpoints (`StateStore.commit` of a 500-byte snapshot,
   each thread its own instance) from 1, 4, 16 and 64 threads at once on
   ``synchronous="FULL"``: commits per second, and how many commits shared each transaction
   (one fsync). Every commit is durable when its call returns, so with one thread each
   commit pays a whole fsync; with many, concurrent commits share it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

import durable
from durable import DurableBackend, InMemoryStateStore, SQLiteStateStore, Suspended, make_durable
from durable._model import InstanceHeader


@durable.step
async def tick(i: int) -> int:
    return i + 1


async def stepping(n: int) -> int:
    total = 0
    for i in range(n):
        total += await tick(i)
    return total


STEPPING = make_durable(stepping)


async def waiting(n: int) -> int:
    total = 0
    for _ in range(n):
        total += await durable.wait_for_event("go")
    return total


WAITING = make_durable(waiting)


def raw_commits(path: Path, data: bytes, rounds: int) -> list[float]:
    """`rounds` commits of `data` into a WAL database with synchronous=FULL: seconds each."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR REPLACE INTO t VALUES (1, ?)", (data,))
        db.execute("COMMIT")
        times.append(time.perf_counter() - start)
    db.close()
    return times


async def checkpoint_cost(folder: Path, steps: int, rounds: int) -> None:
    store = SQLiteStateStore(folder / "steps.db", synchronous="FULL")
    backend = DurableBackend(store)
    per_step = []
    for r in range(rounds):
        start = time.perf_counter()
        await STEPPING(steps, orchestration_backend=backend, instance_id=f"s-{r}")
        per_step.append((time.perf_counter() - start) / (steps + 2))  # + start and end
    probe = store.read("s-0")
    assert probe.header is not None and probe.data is not None
    size = len(probe.data) + len(probe.header.to_json())
    entries = store.read_history("s-0")
    per_checkpoint = max(1, round(len(entries) / probe.header.seq))
    store.close()
    n = rounds * (steps + 2)
    reference = raw_commits(folder / "raw.db", b"x" * size, n)
    alone = store_commits(folder / "alone.db", probe.header, probe.data, entries, n)
    in_memory = []
    memory = DurableBackend(InMemoryStateStore())
    for r in range(rounds):
        start = time.perf_counter()
        await STEPPING(steps, orchestration_backend=memory, instance_id=f"s-{r}")
        in_memory.append((time.perf_counter() - start) / (steps + 2))
    step_us = statistics.median(per_step) * 1e6
    ref_us = median_of_means(reference, steps + 2) * 1e6
    alone_us = median_of_means(alone, steps + 2) * 1e6
    memory_us = statistics.median(in_memory) * 1e6
    print(f"1. a checkpoint (completed step) on SQLite FULL, {steps} steps x {rounds} runs")
    print(f"  per checkpoint                      median {step_us:8.1f} µs")
    print(f"  raw WAL FULL commit of {size:>5} B     median {ref_us:8.1f} µs")
    print(f"  ratio {step_us / ref_us:.2f}x  goal <= 1.5")
    print("  where it goes (each measured apart, in this run):")
    print(
        f"    the store's commit alone (that snapshot, {per_checkpoint} audit entries, "
        f"no event loop): median {alone_us:6.1f} µs ({alone_us / ref_us:.2f}x the raw commit)"
    )
    print(f"    the runtime alone (the same steps, InMemoryStateStore): median {memory_us:6.1f} µs")
    rest = step_us - alone_us - memory_us
    print(f"    the rest (the hand-off to a store thread and back): {rest:6.1f} µs")


def median_of_means(times: list[float], size: int) -> float:
    """The statistic of the per-checkpoint figure (mean time over a run of `size`, median of
    the runs), so that fsync's slow tail counts the same on both sides of the ratio."""
    runs = [times[i : i + size] for i in range(0, len(times) - size + 1, size)]
    return statistics.median(statistics.fmean(run) for run in runs)


def store_commits(
    path: Path, header: InstanceHeader, data: bytes, history: list[bytes], rounds: int
) -> list[float]:
    """`rounds` store-level commits of one instance (the checkpoint's header and bytes, as
    many audit entries as a step's checkpoint writes), from one thread: seconds each."""
    store = SQLiteStateStore(path, synchronous="FULL")
    per = max(1, round(len(history) / header.seq))
    times = []
    for seq in range(1, rounds + 1):
        entries = history[:per]
        start = time.perf_counter()
        saved = store.commit("s", seq - 1, replace(header, seq=seq), data, (), entries)
        times.append(time.perf_counter() - start)
        assert saved
    store.close()
    return times


async def cycle(backend: DurableBackend, instance_id: str) -> float:
    start = time.perf_counter()
    await backend.publish(instance_id, "go", 1)
    with contextlib.suppress(Suspended):
        await WAITING.resume(orchestration_backend=backend, instance_id=instance_id)
    return time.perf_counter() - start


async def drive(backend: DurableBackend, instance_id: str, checkpoints: int) -> None:
    with contextlib.suppress(Suspended):
        await WAITING(10**9, orchestration_backend=backend, instance_id=instance_id)
    for _ in range(checkpoints - 1):
        await cycle(backend, instance_id)


async def resume_cost(folder: Path, long: int, samples: int) -> None:
    path = folder / "long.db"
    fast = SQLiteStateStore(path, synchronous="NORMAL")
    await drive(DurableBackend(fast), "short", 10)
    await drive(DurableBackend(fast), "long", long)
    fast.close()
    store = SQLiteStateStore(path, synchronous="FULL")
    backend = DurableBackend(store)
    short_times, long_times = [], []
    for i in range(samples):
        order = (("short", short_times), ("long", long_times))
        for instance_id, times in order if i % 2 else order[::-1]:
            times.append(await cycle(backend, instance_id))
    seq = {i: store.read_header(i).seq for i in ("short", "long")}  # type: ignore[union-attr]
    store.close()
    a, b = statistics.median(short_times) * 1e3, statistics.median(long_times) * 1e3
    print(f"2. resume after {seq['long']:,} vs {seq['short']:,} checkpoints on SQLite FULL")
    print(f"  one cycle after {seq['short']:>6,}: median {a:6.3f} ms")
    print(f"  one cycle after {seq['long']:>6,}: median {b:6.3f} ms")
    print(f"  ratio {b / a:.2f}x  goal <= 1.2")


def commits_from_threads(store: SQLiteStateStore, threads: int, seconds: float) -> int:
    """Commit checkpoint after checkpoint from `threads` threads, each its own instance, for
    `seconds`; how many commits were saved."""
    from datetime import UTC, datetime

    from durable._model import InstanceHeader

    now, data = datetime.now(UTC), b"x" * 500
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def commit_loop(n: int) -> None:
        seq = 0
        while time.perf_counter() < stop:
            header = InstanceHeader(seq + 1, "paused", "bench:p", now, now, events=("go",))
            assert store.commit(f"i{n}", seq, header, data)
            seq += 1
        counts[n] = seq

    workers = [threading.Thread(target=commit_loop, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts)


def group_commit(folder: Path, seconds: float) -> None:
    print("3. group commit: store-level commits on SQLite FULL, one instance per thread")
    for threads in (1, 4, 16, 64):
        store = SQLiteStateStore(folder / f"group-{threads}.db", synchronous="FULL")
        batches = 0
        group = store._group  # the group commit queue: count the batches it runs
        run_batch = group._run_batch

        def counting(batch: Any, run: Any = run_batch) -> None:
            nonlocal batches
            batches += 1
            run(batch)

        group._run_batch = counting
        started = time.perf_counter()
        total = commits_from_threads(store, threads, seconds)
        elapsed = time.perf_counter() - started
        store.close()
        print(
            f"  {threads:3} threads: {total / elapsed:8.0f} commits/s, "
            f"{total / max(batches, 1):5.1f} commits per transaction (one fsync each)"
        )


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    steps, rounds = (20, 3) if args.quick else (200, 7)
    long, samples = (200, 20) if args.quick else (10_000, 100)
    with tempfile.TemporaryDirectory(prefix="bench-durable-", dir=os.environ.get("TMPDIR")) as d:
        folder = Path(d)
        print(f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, in {folder}")
        await checkpoint_cost(folder, steps, rounds)
        await resume_cost(folder, long, samples)
        group_commit(folder, 0.5 if args.quick else 3.0)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
