"""User types and scopes across pauses: exceptions, enums, dataclasses, models, closures."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pydantic

from durable import PauseForEventException, make_durable

from . import log
from .nested import child_no_pause


class CorpusError(Exception):
    """A user exception with an extra attribute."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.code = code


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclass
class Order:
    items: list[Point] = field(default_factory=list)
    color: Color = Color.RED


class Model(pydantic.BaseModel):
    name: str
    tags: list[str] = []


async def via_plain_coroutine(x: int) -> int:
    """A plain coroutine that awaits a durable function: an inline call that never pauses."""
    log("via plain", x)
    return await child_no_pause(x)


@make_durable
async def case_user_types_across_pause():
    order = Order([Point(1, 2)], Color.BLUE)
    model = Model(name="m", tags=["a"])
    same = order.items[0]
    raise PauseForEventException("go")
    order.items.append(Point(3, 4))
    model.tags.append("b")
    log("order", order, model, same is order.items[0], type(order.color).__name__)
    return order, model


@make_durable
async def case_user_exception_after_pause():
    try:
        raise CorpusError("first", 1)
    except CorpusError as e:
        raise PauseForEventException("handler")
        log("code", e.code)
    raise PauseForEventException("again")
    raise CorpusError("final", 2)


@make_durable
async def case_closures_and_comprehensions_around_pause():
    n = 1
    squares = [x * x for x in range(4)]
    add = lambda v: v + n  # noqa: E731
    first = add(1)
    del add
    raise PauseForEventException("go")
    n = 10
    second = (lambda v: v + n)(1)
    log("values", squares, first, second, {k: k * n for k in range(2)})
    return first, second


@make_durable
async def case_durable_child_through_plain_coroutine():
    raise PauseForEventException("go")
    r = await via_plain_coroutine(4)
    log("r", r)
    return r


@make_durable
async def case_many_iterations():
    total = 0
    for i in range(30):
        raise PauseForEventException(f"i-{i % 3}")
        total += i
    log("total", total)
    return total
