"""Benchmark: what the durable transform and a pause cost, as ratios measured in one run.

Run from the repository root: ``.venv/bin/python benchmarks/bench_transform.py [--quick]``.
Machines are noisy, so repetitions of the two sides of every ratio are interleaved and the
raw times are printed next to each ratio. Nothing is asserted: the script only prints, with
PASS or MISS against the targets of DESIGN.md §8.

1. **Loop, no pause inside.** ``durable_loop`` runs an arithmetic loop of N iterations and
   pauses once after it; ``plain_loop`` is the same plain ``async def`` without the pause. The
   pause's event is published before each call, so the durable run consumes it and returns
   (three in-memory checkpoints, microseconds against a loop of ~0.1 s). Ratio of the fastest
   runs, in process CPU time (other processes on a shared machine do not count); target <= 1.05.
2. **Loop with a rarely taken pause.** ``durable_last`` pauses only on the last iteration;
   ``plain_last`` has ``pass`` there. The event is published before the call, so the pause
   consumes it and the run goes on to the end. Ratio of the fastest runs (CPU time, as in 1);
   target <= 1.3.
3. **Resume cost after k pauses.** ``durable_ticks`` pauses on every iteration. Instance A is
   driven through 10 completed pauses, instance B through 10,000, each pause the realistic
   way: one *cycle* (below) per pause. Then cycles on A and on B alternate; the ratio of their
   medians, B/A, should be <= 1.2 on `InMemoryStateStore` and on `DiskStateStore`. Driving
   stops when ``--drive-budget`` seconds (default 150, per store) run out; a k short of 10,000
   is printed and counts as MISS. Snapshot sizes are printed too: they should not grow with k.
4. **A cycle against the disk.** The DiskStateStore cycles on A from (3) are compared with an
   fsync'd write of A's snapshot bytes (read back from the store) to a temp file followed by
   ``os.replace``, interleaved with them. Ratio of medians; target <= 3. The same write plus
   an fsync of the folder (what the store does to make the rename durable) is also printed.

A **cycle** starts with the instance paused at a ``"tick"`` (its snapshot saved) and ends when
the next pause has raised: ``publish_event`` (the event appended to the store and, on disk,
fsync'd), then the call with the instance id: load and validate the snapshot, take the
event, restore the frame, run to the next pause, save that pause's checkpoint together with
the consumed event's id (fsync'd on disk). So it holds one pause checkpoint save, one event
write and one resume.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from durable import (
    DiskStateStore,
    DurableBackend,
    InMemoryStateStore,
    PauseForEventException,
    make_durable,
)


async def plain_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


async def durable_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    raise PauseForEventException("done")
    return total


async def plain_last(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
        if i == n - 1:
            pass
    return total


async def durable_last(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
        if i == n - 1:
            raise PauseForEventException("last")
    return total


async def durable_ticks(k: int) -> None:
    for _ in range(k):
        raise PauseForEventException("tick")


DURABLE_LOOP = make_durable(durable_loop)
DURABLE_LAST = make_durable(durable_last)
DURABLE_TICKS = make_durable(durable_ticks)


SUMMARY: list[str] = []


def verdict(label: str, ratio: float, target: float, *, met: bool = True) -> str:
    """`ratio` against `target`, PASS or MISS; remembered for the summary."""
    outcome = "PASS" if met and ratio <= target else "MISS"
    SUMMARY.append(f"{outcome}  {label}: {ratio:.3f}x (target <= {target})")
    return f"{ratio:6.3f}x  target <= {target}  {outcome}"


def ms(seconds: list[float]) -> str:
    return f"min {min(seconds) * 1e3:9.3f} ms  median {statistics.median(seconds) * 1e3:9.3f} ms"


async def cpu_timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.process_time()
    result = await fn()
    return time.process_time() - start, result


async def loop_ratio(
    title: str, plain: Any, durable: Any, event: str, n: int, rounds: int, target: float
) -> None:
    backend = DurableBackend(InMemoryStateStore())
    plain_times: list[float] = []
    durable_times: list[float] = []
    results = set()
    for r in range(rounds):
        backend.publish_event(f"{event}-{r}", event)  # early: the pause consumes it, goes on

        async def run_durable(r: int = r) -> Any:
            return await durable(n, orchestration_backend=backend, instance_id=f"{event}-{r}")

        sides = [(plain_times, lambda: plain(n)), (durable_times, run_durable)]
        for times, fn in sides if r % 2 else sides[::-1]:
            elapsed, result = await cpu_timed(fn)
            times.append(elapsed)
            results.add(result)
    assert len(results) == 1, f"plain and durable disagree: {results}"
    print(f"{title} (n={n:,}, {rounds} rounds, CPU time)")
    print(f"  plain    {ms(plain_times)}")
    print(f"  durable  {ms(durable_times)}")
    ratio = min(durable_times) / min(plain_times)
    median = statistics.median(durable_times) / statistics.median(plain_times)
    print(f"  ratio of minima {verdict(title, ratio, target)}   (ratio of medians {median:.3f}x)")


async def run_to_pause(backend: DurableBackend, instance_id: str, *args: Any) -> None:
    """Call `durable_ticks` for `instance_id` (start or resume); it must end at a pause."""
    try:
        await DURABLE_TICKS(*args, orchestration_backend=backend, instance_id=instance_id)
    except PauseForEventException:
        return
    raise RuntimeError(f"{instance_id} did not pause")


async def cycle(backend: DurableBackend, instance_id: str) -> float:
    """One cycle (see the module docstring), in seconds."""
    start = time.perf_counter()
    backend.publish_event(instance_id, "tick")
    await run_to_pause(backend, instance_id)
    return time.perf_counter() - start


async def drive(backend: DurableBackend, instance_id: str, k: int, budget: float) -> int:
    """Start `instance_id` and complete `k` pauses (fewer if `budget` runs out); return how many."""
    deadline = time.perf_counter() + budget
    await run_to_pause(backend, instance_id, 10**12)
    for done in range(k):
        if time.perf_counter() > deadline:
            return done
        await cycle(backend, instance_id)
    return k


def write_rename(folder: Path, data: bytes, *, sync_folder: bool) -> float:
    """An fsync'd write of `data` to a temp file renamed over the target, in seconds."""
    start = time.perf_counter()
    temp = folder / "snapshot.tmp"
    with open(temp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, folder / "snapshot.json")
    if sync_folder:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return time.perf_counter() - start


async def resume_ratios(
    name: str, store: Any, big: int, rounds: int, budget: float, folder: Path | None
) -> None:
    backend = DurableBackend(store)
    started = time.perf_counter()
    a_k = await drive(backend, "a", 10, budget)
    b_k = await drive(backend, "b", big, budget)
    driven = time.perf_counter() - started
    snapshot = store.load("a")
    a_times: list[float] = []
    b_times: list[float] = []
    base: dict[bool, list[float]] = {False: [], True: []}
    for r in range(rounds):
        for side in "ab" if r % 2 else "ba":
            times = a_times if side == "a" else b_times
            times.append(await cycle(backend, side))
        if folder is not None:
            for sync_folder in (False, True):
                base[sync_folder].append(write_rename(folder, snapshot, sync_folder=sync_folder))
    print(f"3. resume after k pauses, {name} ({rounds} cycles each; driving took {driven:.1f} s)")
    print(f"  k={a_k:<6,} cycle {ms(a_times)}  snapshot {len(snapshot):,} B")
    print(f"  k={b_k:<6,} cycle {ms(b_times)}  snapshot {len(store.load('b')):,} B")
    ratio = statistics.median(b_times) / statistics.median(a_times)
    label = f"3. resume at k={b_k:,} vs k={a_k}, {name}"
    short = f"  (driving stopped at k={b_k:,}: budget)" if b_k < big else ""
    print(f"  ratio of medians {verdict(label, ratio, 1.2, met=b_k == big)}{short}")
    if folder is None:
        return
    print(
        f"4. one DiskStateStore cycle at k~{a_k} vs an fsync'd write+rename of {len(snapshot):,} B"
    )
    print(f"  cycle                        {ms(a_times)}")
    print(f"  write+fsync+rename           {ms(base[False])}")
    print(f"  write+fsync+rename+dir fsync {ms(base[True])}")
    ratio = statistics.median(a_times) / statistics.median(base[False])
    label = "4. DiskStateStore cycle vs write+fsync+rename"
    print(f"  ratio of medians cycle/write+fsync+rename {verdict(label, ratio, 3)}")
    with_dir = statistics.median(a_times) / statistics.median(base[True])
    print(f"  (cycle/write+fsync+rename+dir fsync {with_dir:.3f}x)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--dir", help="folder for the DiskStateStore (default: a temp folder)")
    parser.add_argument("--drive-budget", type=float, default=150.0, metavar="SECONDS")
    args = parser.parse_args()
    started = time.perf_counter()
    n, loop_rounds = (200_000, 3) if args.quick else (2_000_000, 15)
    big, cycles = (200, 5) if args.quick else (10_000, 40)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"nproc {cpus}, {platform.system()} {platform.machine()}"
    )
    await loop_ratio(
        "1. loop, no pause inside", plain_loop, DURABLE_LOOP, "done", n, loop_rounds, 1.05
    )
    await loop_ratio(
        "2. loop, pause taken on the last iteration only",
        plain_last,
        DURABLE_LAST,
        "last",
        n,
        loop_rounds,
        1.3,
    )
    budget = args.drive_budget
    await resume_ratios("InMemoryStateStore", InMemoryStateStore(), big, cycles, budget, None)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-durable-") as tmp:
        folder = Path(tmp) / "plain"
        folder.mkdir()
        store = DiskStateStore(Path(tmp) / "store")
        print(f"(DiskStateStore at {store.path})")
        await resume_ratios("DiskStateStore", store, big, cycles, budget, folder)
    print(f"summary ({time.perf_counter() - started:.0f} s in all):")
    for line in SUMMARY:
        print(f"  {line}")


if __name__ == "__main__":
    asyncio.run(main())
