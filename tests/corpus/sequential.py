"""Straight-line code: pauses, saved locals, plain awaits, dynamic events, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from durable import PauseForEventException, make_durable

from . import log


async def fetch(x: int) -> int:
    """A plain coroutine: awaited inline; the log shows each time it really runs."""
    log("fetch", x)
    return x * 10


@make_durable
async def case_single_pause():
    log("before")
    raise PauseForEventException("go")
    log("after")
    return "done"


@make_durable
async def case_no_pause(n: int = 4):
    total = 0
    for i in range(n):
        total += i
        log("i", i)
    return total


@make_durable
async def case_locals_across_two_pauses(name: str = "Ada"):
    greeting = f"hello {name}"
    log("start", greeting)
    raise PauseForEventException("first")
    items = [greeting, 1, (2, 3)]
    log("middle", list(items))
    raise PauseForEventException("second")
    items.append({"k": {1, 2}, 3: frozenset({"x"})})
    log("end", greeting, items)
    return items


@make_durable
async def case_same_event_twice():
    log("a")
    raise PauseForEventException("tick")
    log("b")
    raise PauseForEventException("tick")
    log("c")
    return 3


@make_durable
async def case_plain_awaits_around_pauses():
    a = await fetch(1)
    log("a", a)
    raise PauseForEventException("mid")
    b = await fetch(2)
    log("b", b)
    raise PauseForEventException("late")
    return a + b + await fetch(3)


@make_durable
async def case_dynamic_event_names(n: int = 3):
    seen = []
    for i in range(n):
        log("wait", i)
        raise PauseForEventException(f"evt-{i}")
        seen.append(i)
    log("seen", seen)
    return seen


@make_durable
async def case_raises_after_pause():
    log("x")
    raise PauseForEventException("go")
    log("y")
    raise ValueError("boom", 42)


@make_durable
async def case_shared_identity_across_pause():
    a = [1]
    b = {"list": a, "again": a}
    raise PauseForEventException("go")
    a.append(2)
    log("b", b)
    log("same", b["list"] is a, b["again"] is a)
    return b


@make_durable
async def case_rich_values_across_pause():
    d = {
        (1, 2): Decimal("1.50"),
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "dt": timedelta(days=2, microseconds=7),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
        "big": 2**100,
        "neg0": -0.0,
        "bytes": b"\x00\xff",
        "text": "é\u2603\U0001f600",
    }
    raise PauseForEventException("go")
    log("types", sorted(type(v).__name__ for v in d.values()))
    log("d", d)
    log("neg0", repr(d["neg0"]))
    return d


@make_durable
async def case_arguments_saved(a: int = 2, b: tuple = (3, 4), *, c: str = "kw"):
    log("args", a, b, c)
    raise PauseForEventException("go")
    log("args again", a, b, c)
    return a, b, c
