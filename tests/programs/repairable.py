"""A program that fails until it is "fixed" (REPAIRABLE_FIXED=1 in the environment), with
block counters in a file so that tests across processes can see what ran."""

from __future__ import annotations

import os
import pathlib

from durable import make_durable, wait_for_event

COUNTS: dict[str, int] = {}


def ran(block: str) -> None:
    COUNTS[block] = COUNTS.get(block, 0) + 1
    log = os.environ.get("REPAIRABLE_LOG")
    if log:
        with pathlib.Path(log).open("a") as f:
            f.write(block + "\n")


async def _charge(amount: int) -> int:
    ran("charge")
    if amount > 100 and os.environ.get("REPAIRABLE_FIXED") != "1":
        raise ValueError(f"cannot charge {amount}")
    return amount


async def _order(amount: int, note: str) -> str:
    ran("before")
    extra = await wait_for_event("approve")
    ran("approved")
    total = await charge(amount + (extra or 0))
    ran("after")
    return f"{note}: charged {total}"


charge = make_durable(_charge)
order = make_durable(_order)
