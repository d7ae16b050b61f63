"""Durable programs for benchmarks/bench_fleet.py, run by ``durable worker`` processes.

The benchmark imports this module as ``fleet_flows`` (``benchmarks/`` on the path) and so do
the workers (``--import fleet_flows`` with ``benchmarks/`` on ``PYTHONPATH``): the programs'
saved names are the same in every process.
"""

from __future__ import annotations

import os
import time

import durable
from durable import make_durable


async def cycling(k: int) -> int:
    """``k`` pause -> publish -> resume cycles: the throughput workload."""
    total = 0
    for _ in range(k):
        total += await durable.wait_for_event("go")
    return total


CYCLING = make_durable(cycling)


def stamp(n: int) -> None:
    """Append ``n`` and the wall-clock time to the file ``DURABLE_BENCH_STAMPS`` names (one
    ``O_APPEND`` write, so lines never interleave). Wall clock, not `time.perf_counter_ns`:
    the benchmark compares it with a time taken in another process, and only the wall clock
    is documented as one clock for every process of a machine."""
    fd = os.open(os.environ["DURABLE_BENCH_STAMPS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{n} {time.time_ns()}\n".encode())
    finally:
        os.close(fd)


async def pinging(k: int) -> int:
    """``k`` waits, each noting the moment it resumed: the latency workload."""
    for n in range(k):
        await durable.wait_for_event("ping")
        stamp(n)
    return k


PINGING = make_durable(pinging)
