"""Benchmark: resuming costs the same with 10,000 audit-history entries as with 10.

Run from the repository root: ``.venv/bin/python benchmarks/bench_history.py [--rounds N]``.
Prints the ratio measured in this one run; asserts nothing about timing.

Each round makes two fresh instances of ``ticks`` on one `DiskStateStore`, both started and
paused at the same ``"tick"`` with the same live state. Their audit histories are then topped
up with `StateStore.append_history` to exactly 10 entries (instance A) and 10,000 entries
(instance B). The filler entries are real ones: the entries a scratch instance wrote over a
few pause/resume cycles, repeated. Then one *cycle* is timed on each, in alternating order
(A then B, B then A): ``publish_event`` (an fsync'd event file), then the call that loads and
validates the snapshot, consumes the event, restores the frame, runs to the next pause, saves
its checkpoint, appends that run's history entries and deletes the consumed event.

Every timed cycle is the first resume of an instance whose history has exactly 10 or 10,000
entries. A resume never reads the history and appending is ``O_APPEND``, so the ratio of the
medians, B/A, should be close to 1; target <= 1.2. Wall-clock time, since fsync waits count.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from durable import DiskStateStore, DurableBackend, PauseForEventException, make_durable

SMALL, LARGE = 10, 10_000
TARGET = 1.2


async def _ticks(k: int) -> None:
    for _ in range(k):
        raise PauseForEventException("tick")


ticks = make_durable(_ticks)


async def run_to_pause(backend: DurableBackend, instance_id: str, *args: int) -> None:
    """Start or resume `instance_id`; it must end at a pause."""
    try:
        await ticks(*args, orchestration_backend=backend, instance_id=instance_id)
    except PauseForEventException:
        return
    raise RuntimeError(f"{instance_id} did not pause")


async def cycle(backend: DurableBackend, instance_id: str) -> float:
    """Publish the event and resume to the next pause; seconds taken."""
    start = time.perf_counter()
    backend.publish_event(instance_id, "tick")
    await run_to_pause(backend, instance_id)
    return time.perf_counter() - start


async def real_entries(backend: DurableBackend) -> list[bytes]:
    """The history lines a scratch instance writes over a start and a few cycles."""
    await run_to_pause(backend, "scratch", 10**9)
    for _ in range(3):
        await cycle(backend, "scratch")
    return backend.store.read_history("scratch")


async def paused_with_history(
    backend: DurableBackend, instance_id: str, entries: int, filler: list[bytes]
) -> None:
    """Start `instance_id`, pause it at its first tick, top its history up to `entries`."""
    store = backend.store
    await run_to_pause(backend, instance_id, 10**9)
    missing = entries - len(store.read_history(instance_id))
    for i in range(missing):
        store.append_history(instance_id, filler[i % len(filler)])
    assert len(store.read_history(instance_id)) == entries


async def measure(backend: DurableBackend, rounds: int) -> tuple[list[float], list[float]]:
    """Cycle times on fresh 10-entry (A) and 10,000-entry (B) instances, interleaved."""
    filler = await real_entries(backend)
    small: list[float] = []
    large: list[float] = []
    for r in range(rounds):
        a, b = f"a-{r}", f"b-{r}"
        await paused_with_history(backend, a, SMALL, filler)
        await paused_with_history(backend, b, LARGE, filler)
        order = [(a, small), (b, large)]
        for instance_id, times in order if r % 2 == 0 else reversed(order):
            times.append(await cycle(backend, instance_id))
    return small, large


def describe(label: str, times: list[float]) -> str:
    quartiles = statistics.quantiles(times, n=4)
    return (
        f"{label}: median {statistics.median(times) * 1e3:7.3f} ms  "
        f"(quartiles {quartiles[0] * 1e3:.3f} .. {quartiles[2] * 1e3:.3f} ms, n={len(times)})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41, help="cycles per side (default 41)")
    parser.add_argument("--dir", help="folder for the DiskStateStore (default: a temp folder)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-history-") as tmp:
        store = DiskStateStore(Path(tmp) / "store")
        print(f"DiskStateStore at {store.path}, {args.rounds} rounds")
        backend = DurableBackend(store)
        small, large = await measure(backend, args.rounds)
        sizes = [_history_size(backend, n) for n in ("a-0", "b-0")]
    for name, (count, size) in zip("AB", sizes, strict=True):
        print(f"history of {name} after its timed cycle: {count:,} entries, {size:,} bytes")
    print(describe(f"A, {SMALL:>6,} history entries", small))
    print(describe(f"B, {LARGE:>6,} history entries", large))
    ratio = statistics.median(large) / statistics.median(small)
    outcome = "PASS" if ratio <= TARGET else "MISS"
    print(f"resume cost ratio B/A (medians): {ratio:.3f}x  target <= {TARGET}  {outcome}")


def _history_size(backend: DurableBackend, instance_id: str) -> tuple[int, int]:
    entries = backend.store.read_history(instance_id)
    return len(entries), sum(map(len, entries))


if __name__ == "__main__":
    asyncio.run(main())
