"""`durable.Worker` throughput and wake-up latency, measured in one run (nothing is asserted).

Run from the repository root: ``.venv/bin/python benchmarks/bench_worker.py [--quick]``.

1. **Cycles per second**: ``INSTANCES`` instances, each doing ``CYCLES`` pause → publish →
   resume cycles (``await durable.wait_for_event("go")`` in a loop), driven by one `Worker`
   (concurrency 100) while another task publishes the events (``await backend.publish``)
   round by round, the publishes of a round concurrent (as from many clients). A cycle is
   one publish, one resume and one saved pause. Figures: cycles per second from the first
   start to the last result, on `InMemoryStateStore`, `DiskStateStore` (every commit and
   publish is an fsync'd append) and `SQLiteStateStore` with ``synchronous="FULL"`` (the
   default: durable when `commit` returns; concurrent commits share one fsync) and
   ``"NORMAL"``, on asyncio and trio. Goal on SQLite: at least 1,000 cycles/s.
2. **Wake-up latency**: one instance waits; ``await backend.publish(...)`` from another task;
   the time from the publish call until the instance's own code runs again after its wait
   (it records the moment with a plain call). Between samples the benchmark waits until the
   run has saved its next pause; while a sample is in flight it waits on an event, blocked,
   as a real caller would (a busy-waiting caller would hold the GIL that the store's threads
   need, and measure that). p50 and p99 over ``SAMPLES`` cycles, same stores and loops.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

import durable
from durable import (
    DiskStateStore,
    DurableBackend,
    InMemoryStateStore,
    SQLiteStateStore,
    StateStore,
    make_durable,
)


async def cycling(n: int) -> int:
    total = 0
    for _ in range(n):
        total += await durable.wait_for_event("go")
    return total


CYCLING = make_durable(cycling)

RESUMED: list[float] = []
SIGNAL: list[anyio.Event] = []  # the latency run's "resumed" flag for the current sample


def resumed() -> None:
    """Called by the instance's own code right after its wait returns (a plain call, no
    step: a sync step would add a thread hand-off before the moment is taken)."""
    RESUMED.append(time.perf_counter())
    SIGNAL[-1].set()


async def pinging(n: int) -> int:
    for _ in range(n):
        await durable.wait_for_event("ping")
        resumed()
    return n


PINGING = make_durable(pinging)


def stores(folder: Path) -> dict[str, Callable[[str], StateStore]]:
    return {
        "memory": lambda _: InMemoryStateStore(),
        "disk": lambda name: DiskStateStore(folder / name),
        "sqlite FULL": lambda name: SQLiteStateStore(folder / f"{name}.db"),
        "sqlite NORMAL": lambda name: SQLiteStateStore(
            folder / f"{name}.db", synchronous="NORMAL"
        ),
    }


async def throughput(store: StateStore, instances: int, cycles: int) -> float:
    backend = DurableBackend(store)
    async with durable.Worker(backend, [CYCLING], concurrency=100, poll_interval=30) as worker:
        started = time.perf_counter()
        handles = [
            await worker.start(CYCLING, cycles, instance_id=f"c-{i}") for i in range(instances)
        ]

        async def publisher() -> None:
            # One round at a time, its publishes concurrent: many clients publishing at once
            # (each `publish` is durable when it returns; concurrent ones share a commit).
            for _ in range(cycles):
                async with anyio.create_task_group() as round_:
                    for i in range(instances):
                        round_.start_soon(backend.publish, f"c-{i}", "go", 1)

        async with anyio.create_task_group() as group:
            group.start_soon(publisher)
            results = [await h.result() for h in handles]
        elapsed = time.perf_counter() - started
    assert results == [cycles] * instances
    return instances * cycles / elapsed


async def latency(store: StateStore, samples: int) -> tuple[float, float]:
    """One instance; per sample: wait until it has saved its pause, publish, and wait
    (blocked, not spinning: a spinning waiter holds the GIL the store's threads need) until
    its code runs again."""
    backend = DurableBackend(store)
    RESUMED.clear()
    delays = []
    async with durable.Worker(backend, [PINGING], poll_interval=30) as worker:
        SIGNAL.append(anyio.Event())
        handle = await worker.start(PINGING, samples, instance_id="ping")
        for i in range(samples):
            while worker.stats().running:  # the run before has not saved its pause yet
                await anyio.sleep(0.0005)
            await anyio.sleep(0.001)
            SIGNAL.append(anyio.Event())
            sent = time.perf_counter()
            await backend.publish("ping", "ping")
            await SIGNAL[-1].wait()
            delays.append(RESUMED[i] - sent)
        await handle.result()
    SIGNAL.clear()
    delays.sort()
    return statistics.median(delays), delays[min(len(delays) - 1, int(len(delays) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", help="only the stores whose name contains this")
    args = parser.parse_args()
    instances, cycles, samples = (20, 3, 50) if args.quick else (200, 10, 300)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{instances} instances x {cycles} pause -> publish -> resume cycles, one Worker")
        n = 0
        for name, make in stores(folder).items():
            if args.only and args.only not in name:
                continue
            for loop in ("asyncio", "trio"):
                n += 1
                store = make(f"t{n}")
                rate: Any = anyio.run(throughput, store, instances, cycles, backend=loop)
                store.close()
                store = make(f"l{n}")
                p50, p99 = anyio.run(latency, store, samples, backend=loop)
                store.close()
                print(
                    f"  {name:13} {loop:8} {rate:8.0f} cycles/s   publish -> resumed "
                    f"p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"
                )


if __name__ == "__main__":
    main()
