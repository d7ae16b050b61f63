"""Durable functions whose saved snapshots are committed under tests/golden/.

NEVER edit these functions: the golden files name them by fingerprint, and the test proves
that state written by an older durable still resumes. Add new functions for new formats.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid

from durable import PauseForEventException, make_durable


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    total: decimal.Decimal
    tier: Tier
    placed: datetime.datetime
    lines: list[tuple[str, int]]


@make_durable
async def count_items(items: list[str]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for item in items:
        seen[item] = seen.get(item, 0) + 1
        raise PauseForEventException(f"item-{item}")
    return seen


@make_durable
async def add_line(order: Order, line: tuple[str, int]) -> int:
    order.lines.append(line)
    raise PauseForEventException("confirm-line")
    return len(order.lines)


@make_durable
async def process(order: Order, shared: list[int]) -> tuple[int, bool, str]:
    same = shared
    n = await add_line(order, ("extra", 1))
    shared.append(n)
    return n, same is shared, str(order.total)


@make_durable
async def sort_later(values: list[int]) -> tuple[list[int], int]:
    """Format 2 with nested functions: a lambda and a nested def sharing a cell, held across
    a pause (written by the closures change, `fn`, `cell` and `cells` tags)."""
    k = 10
    key = lambda v: -v * k  # noqa: E731

    def bump(by: int = 1) -> int:
        nonlocal k
        k += by
        return k

    raise PauseForEventException("sort")
    bump(-9)
    return sorted(values, key=key), key(1)
