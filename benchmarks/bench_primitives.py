"""Steps and fan-out, measured in one run (ratios; no timing is asserted).

Run from the repository root: ``.venv/bin/python benchmarks/bench_primitives.py [--quick]``.

1. **A completed step on `DiskStateStore`** against one fsync'd write of the same bytes. A
   durable function awaits a trivial ``@durable.step`` in a loop; each completed step is one
   checkpoint (the step's result saved with it: one journal append and one fsync). The
   figure is the median time per completed step over ``ROUNDS`` runs of ``STEPS`` steps,
   against the median of appending the snapshot's bytes to a file and fsyncing it (what the
   journal itself must do at least). Goal: at most 1.5x.
2. **A gather of 100 children**, on `InMemoryStateStore` and `DiskStateStore`: the time of
   one ``await durable.gather(*(child(i) for i in range(100)))`` whose children return at
   once (each is an instance: a start checkpoint and a completed one), per child, and against
   100 sequential nested durable calls in the same function (each two checkpoints as well).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

import durable
from durable import DiskStateStore, DurableBackend, InMemoryStateStore, make_durable


@durable.step
async def tick(i: int) -> int:
    return i + 1


async def stepping(n: int) -> int:
    total = 0
    for i in range(n):
        total += await tick(i)
    return total


STEPPING = make_durable(stepping)


async def child(i: int) -> int:
    return i * 2


CHILD = make_durable(child)


async def fan_out(n: int) -> int:
    results = await durable.gather(*(CHILD(i) for i in range(n)))
    return sum(results)


async def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += await CHILD(i)
    return total


FAN_OUT = make_durable(fan_out)
SEQUENTIAL = make_durable(sequential)


def fsync_append(folder: Path, data: bytes, rounds: int) -> list[float]:
    """Append `data` to one file and fsync, `rounds` times: seconds each."""
    times = []
    fd = os.open(folder / "reference.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            os.write(fd, data)
            os.fsync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    return times


async def step_cost(folder: Path, steps: int, rounds: int) -> None:
    store = DiskStateStore(folder / "steps")
    backend = DurableBackend(store)
    per_step = []
    for r in range(rounds):
        start = time.perf_counter()
        await STEPPING(steps, orchestration_backend=backend, instance_id=f"s-{r}")
        per_step.append((time.perf_counter() - start) / (steps + 2))  # + start and end
    probe = store.read("s-0")
    size = len(probe.data or b"") + len(probe.header.to_json() if probe.header else b"")
    reference = fsync_append(folder, b"x" * size, rounds * 20)
    step_ms, ref_ms = statistics.median(per_step) * 1e3, statistics.median(reference) * 1e3
    print(f"1. a completed step on DiskStateStore ({steps} steps x {rounds} runs, ~{size} B each)")
    print(f"  per completed step          median {step_ms * 1e3:8.1f} µs")
    print(f"  append + fsync of {size:>5} B   median {ref_ms * 1e3:8.1f} µs")
    print(f"  ratio {step_ms / ref_ms:.2f}x  goal <= 1.5")


async def gather_cost(folder: Path, n: int, rounds: int) -> None:
    print(f"2. a gather of {n} children vs {n} sequential nested durable calls")
    for label, make in (
        ("InMemoryStateStore", lambda r: InMemoryStateStore()),
        ("DiskStateStore", lambda r: DiskStateStore(folder / f"gather-{r}")),
    ):
        fan, seq = [], []
        for r in range(rounds):
            backend = DurableBackend(make(r))
            for times, program in ((fan, FAN_OUT), (seq, SEQUENTIAL)):
                start = time.perf_counter()
                result = await program(
                    n, orchestration_backend=backend, instance_id=f"g-{r}-{program.name}"
                )
                times.append(time.perf_counter() - start)
                assert result == sum(i * 2 for i in range(n))
        gather_ms, seq_ms = statistics.median(fan) * 1e3, statistics.median(seq) * 1e3
        print(
            f"  {label:<20} gather {gather_ms:8.1f} ms ({gather_ms * 1e3 / n:7.1f} µs per child)"
            f"   sequential {seq_ms:8.1f} ms   ratio {gather_ms / seq_ms:.2f}x"
        )


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    steps, rounds = (20, 3) if args.quick else (200, 7)
    with tempfile.TemporaryDirectory(prefix="bench-durable-", dir=os.environ.get("TMPDIR")) as d:
        folder = Path(d)
        print(f"Python {sys.version.split()[0]}, nproc {os.cpu_count()}, store in {folder}")
        await step_cost(folder, steps, rounds)
        await gather_cost(folder, 100, 3 if args.quick else 7)


def run() -> Any:
    return anyio.run(main, sys.argv[1:])


if __name__ == "__main__":
    run()
