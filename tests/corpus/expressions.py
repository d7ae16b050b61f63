"""Awaited calls inside expressions: each part runs once, in Python's evaluation order."""

from __future__ import annotations

from dataclasses import dataclass

from durable import PauseForEventException, make_durable

from . import log, value


@dataclass
class Box:
    value: int


@dataclass
class Meter:
    reading: int


METER = Meter(5)


@make_durable
async def num(x: int) -> int:
    """A durable child that pauses and returns its argument times ten."""
    log("num", x)
    raise PauseForEventException(f"num-{x}")
    return x * 10


async def plain_num(x: int) -> int:
    """A plain coroutine that returns its argument times ten."""
    log("plain_num", x)
    return x * 10


async def bump_meter() -> int:
    """A plain coroutine with a side effect on a module-level object."""
    METER.reading += 1
    log("bump", METER.reading)
    return 0


def concat(*parts: object, **named: object) -> str:
    log("concat", parts, named)
    return "|".join(map(str, [*parts, *named.items()]))


@make_durable
async def case_binop_left_before_await():
    x = value("left", 1) + await num(2)
    log("x", x)
    return x


@make_durable
async def case_two_awaits_one_statement():
    x = await num(1) * value("mid", 3) + await num(2)
    return x


@make_durable
async def case_or_short_circuit():
    a = value("a", 7) or await num(1)
    b = value("b", 0) or await num(2)
    log("ab", a, b)
    return a, b


@make_durable
async def case_and_short_circuit():
    a = value("a", 0) and await num(1)
    b = value("b", 1) and await num(2)
    return a, b


@make_durable
async def case_conditional_expression():
    out = []
    for flag in (True, False):
        out.append(await num(1) if value("test", flag) else await num(2))
    return out


@make_durable
async def case_await_in_call_arguments():
    s = concat(value("first", "a"), await num(2), value("third", "c"), k=await num(4))
    return s


@make_durable
async def case_await_in_fstring():
    s = f"{value('a', 'A')}-{await num(3)}-{value('b', 'B')}"
    log("s", s)
    return s


@make_durable
async def case_attribute_augassign():
    box = Box(1)
    box.value += await num(2)
    log("box", box.value)
    return box


@make_durable
async def case_subscript_augassign():
    d = {"k": 1}
    d[value("key", "k")] += await num(3)
    return d


@make_durable
async def case_walrus_in_condition():
    if (n := await num(4)) > value("limit", 30):
        log("big", n)
    return n


@make_durable
async def case_await_in_return():
    raise PauseForEventException("first")
    return value("left", 5) - await num(1)


@make_durable
async def case_await_in_assert():
    assert await num(1) == 10
    log("asserted")
    return True


@make_durable
async def case_plain_coroutine_in_expression():
    x = value("left", 1) + await plain_num(2)
    raise PauseForEventException("go")
    y = await plain_num(x) - value("right", 1)
    return x, y


@make_durable
async def case_attribute_read_before_plain_await():
    meter = METER
    meter.reading = 5
    total = meter.reading + await bump_meter()
    log("total", total)
    return total


@make_durable
async def case_nested_awaits_in_args():
    r = await num(await num(1) // 10 + value("plus", 1))
    return r


@make_durable
async def case_await_in_displays():
    items = [value("a", 1), await num(2), value("c", 3)]
    mapping = {value("key", "k"): await num(5), "tuple": (await num(6), value("t", 0))}
    return items, mapping


@make_durable
async def case_await_in_subscript_and_compare():
    table = [100, 200, 300]
    got = table[await num(0) + value("index", 1)]
    flag = value("low", 0) < await num(1)
    return got, flag


async def case_await_in_chained_comparison():  # undecorated: make_durable may refuse it
    flag = value("low", 0) < await num(1) <= value("high", 10)
    log("flag", flag)
    return flag
