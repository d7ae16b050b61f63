"""Durable programs for the `durable worker` command's tests (tests/runtime/test_worker.py)."""

from __future__ import annotations

import durable
from durable import make_durable


async def _relay(n: int) -> int:
    total = n
    for _ in range(3):
        total += await durable.wait_for_event("go")
    return total


async def _nap(n: int) -> int:
    await durable.sleep(0.3)
    return n


relay = make_durable(_relay)
nap = make_durable(_nap)
