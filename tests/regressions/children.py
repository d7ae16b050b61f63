"""The fixed children that generated programs call: durable ones (nested durable calls) and one
plain coroutine (awaited inline). Their plain copies, for the oracle, are made by the harness.
"""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import log


@make_durable
async def child_pause(x: int) -> int:
    """Pauses once (event named after its argument), then returns."""
    log("child_pause", x)
    raise PauseForEventException(f"c{x}")
    log("child_pause resumed", x)
    return x + 10


@make_durable
async def child_plain(x: int) -> int:
    """Never pauses."""
    log("child_plain", x)
    return x * 2


@make_durable
async def child_raise(x: int) -> int:
    """Raises at once."""
    log("child_raise", x)
    raise ValueError("child", x)


@make_durable
async def child_pause_raise(x: int) -> int:
    """Pauses, then raises KeyError for odd arguments and returns for even ones."""
    log("child_pause_raise", x)
    raise PauseForEventException("cpr")
    if x % 2:
        raise KeyError("child", x)
    return x


@make_durable
async def child_append(items: list, x: int) -> int:
    """Mutates the caller's list on both sides of a pause (identity must survive)."""
    items.append(x)
    raise PauseForEventException("ca")
    items.append(-x)
    return len(items)


@make_durable
async def child_nested(x: int) -> int:
    """Two levels: a nested durable call that pauses, then a pause of its own."""
    y = await child_pause(x + 1)
    raise PauseForEventException("cn")
    log("child_nested", x, y)
    return x + y


@make_durable
async def child_loop(x: int) -> int:
    """A loop pausing at each of up to two iterations."""
    total = 0
    for i in range(x % 3):
        raise PauseForEventException(f"cl{i}")
        total += i + 1
        log("child_loop", i)
    return total


@make_durable
async def child_catch(x: int) -> int:
    """Catches a child's exception, pauses inside the handler, then re-raises it bare."""
    try:
        return await child_raise(x)
    except ValueError as e:
        log("child_catch", e.args)
        raise PauseForEventException("cc")
        raise


@make_durable
async def child_finally(x: int) -> int:
    """A ``finally`` that pauses while a return or (odd x) an exception is pending."""
    try:
        log("child_finally", x)
        if x % 2:
            raise ValueError("child_finally", x)
        return x + 1
    finally:
        raise PauseForEventException("cf")
        log("child_finally cleanup", x)


@make_durable
async def child_update(d: dict, x: int) -> int:
    """Mutates the caller's dict on both sides of a pause (identity must survive)."""
    d[x % 3] = x
    raise PauseForEventException("cu")
    d[(x + 1) % 3] = -x
    return len(d)


@make_durable
async def child_recurse(x: int) -> int:
    """Recursion: one frame per level (at most two), a pause at each."""
    x %= 3
    if x == 0:
        return 0
    raise PauseForEventException(f"cr{x}")
    log("child_recurse", x)
    return x + await child_recurse(x - 1)


async def plain_helper(x: int) -> int:
    """A plain coroutine: awaited inline, not a checkpoint; it calls a durable child that does
    not pause (an inline durable call)."""
    log("plain_helper", x)
    return await child_plain(x) - 1


DURABLE_CHILDREN = (
    "child_pause",
    "child_plain",
    "child_raise",
    "child_pause_raise",
    "child_nested",
    "child_loop",
    "child_catch",
    "child_recurse",
    "child_finally",
)  # the ones called with one int, named x; child_append and child_update take a list / dict too
