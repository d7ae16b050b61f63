"""A durable program for tests/runtime/test_worker_processes.py: worker processes share a store.

Every block of ``hop`` (the code from one wait to the next) appends ``start`` and ``end``
lines naming the instance, the block and the process to the file named by the environment
variable ``DURABLE_FLEET_LOG`` (one ``O_APPEND`` write each, so lines from processes never
interleave), sleeping a little in between so that two processes running one block at once
would show as overlapping lines.
"""

from __future__ import annotations

import os
import time

import durable
from durable import make_durable


def mark(kind: str, block: int) -> None:
    line = f"{kind} {durable.current_instance().instance_id} {block} {os.getpid()}\n"
    fd = os.open(os.environ["DURABLE_FLEET_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


async def _hop(n: int) -> int:
    total = n
    for block in range(3):
        mark("start", block)
        time.sleep(0.002)
        mark("end", block)
        total += await durable.wait_for_event("go")
    mark("start", 3)
    mark("end", 3)
    return total


hop = make_durable(_hop)
