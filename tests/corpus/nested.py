"""Nested durable calls: pausing children, return values, exceptions across frames, recursion."""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import log


@make_durable
async def child_pauses(x: int) -> int:
    log("child start", x)
    raise PauseForEventException(f"child-{x}")
    log("child end", x)
    return x * 2


@make_durable
async def child_no_pause(x: int) -> int:
    log("plain child", x)
    return x + 1


@make_durable
async def child_raises_before_pause(x: int) -> int:
    log("child raising", x)
    raise ValueError("early", x)


@make_durable
async def child_raises_after_pause(x: int) -> int:
    log("child waiting", x)
    raise PauseForEventException("child-wait")
    log("child raising", x)
    raise KeyError("late", x)


@make_durable
async def child_appends(items: list, x: int) -> int:
    items.append(x)
    raise PauseForEventException("append")
    items.append(x + 1)
    return len(items)


@make_durable
async def child_kwargs(a: int, b: int = 5, *, c: str = "c", **extra: int) -> tuple:
    log("kwargs", a, b, c, sorted(extra.items()))
    raise PauseForEventException("kw")
    return (a, b, c, sorted(extra.items()))


@make_durable
async def level3(x: int) -> int:
    log("level3 start", x)
    raise PauseForEventException("deep")
    log("level3 end", x)
    return x + 3


@make_durable
async def level2(x: int) -> int:
    log("level2 start", x)
    y = await level3(x * 10)
    log("level2 got", y)
    raise PauseForEventException("middle")
    return y + 2


@make_durable
async def countdown(n: int) -> list:
    log("enter", n)
    raise PauseForEventException(f"level-{n}")
    if n == 0:
        return [0]
    rest = await countdown(n - 1)
    log("leave", n)
    return [n, *rest]


@make_durable
async def fib(n: int) -> int:
    if n < 2:
        raise PauseForEventException(f"leaf-{n}")
        return n
    a = await fib(n - 1)
    b = await fib(n - 2)
    log("fib", n, a + b)
    return a + b


@make_durable
async def case_child_pauses_parent_uses_result():
    log("parent start")
    r = await child_pauses(21)
    log("parent got", r)
    return r + 1


@make_durable
async def case_child_without_pause():
    a = await child_no_pause(1)
    raise PauseForEventException("between")
    b = await child_no_pause(a)
    log("results", a, b)
    return b


@make_durable
async def case_three_levels():
    log("level1 start")
    z = await level2(4)
    log("level1 got", z)
    return z


@make_durable
async def case_child_raises_before_pause_caught():
    raise PauseForEventException("first")
    try:
        await child_raises_before_pause(5)
        log("not reached")
    except ValueError as e:
        log("parent caught", e.args)
        return e.args


@make_durable
async def case_child_raises_after_resume_caught():
    try:
        await child_raises_after_pause(6)
        log("not reached")
    except KeyError as e:
        log("parent caught", e.args)
        raise PauseForEventException("after-catch")
        log("parent handler end", e.args)
        return e.args


@make_durable
async def case_child_exception_propagates():
    log("start")
    await child_raises_after_pause(7)
    log("not reached")


@make_durable
async def case_child_in_loop():
    total = 0
    for i in range(3):
        total += await child_pauses(i)
        log("total", total)
    return total


@make_durable
async def case_child_mutates_parents_list():
    items = ["p"]
    n = await child_appends(items, 1)
    log("after child", n, items)
    raise PauseForEventException("parent")
    items.append("end")
    return items


@make_durable
async def case_child_kwargs():
    r = await child_kwargs(1, c="x", z=9)
    log("r", r)
    return r


@make_durable
async def case_recursion():
    levels = await countdown(3)
    log("levels", levels)
    return levels


@make_durable
async def case_recursion_two_calls_per_level():
    return await fib(4)


@make_durable
async def case_child_raises_immediately_caught():
    try:
        await child_raises_before_pause(8)
    except ValueError as e:
        log("caught on first call", e.args)
    raise PauseForEventException("after")
    return "ok"
