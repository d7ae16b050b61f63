"""Durable functions for tests/transform/test_closures.py (make_durable needs real source).

Methods that call ``super()``, functions decorated with ``functools.wraps(other)``, and nested
functions live across pauses. Side effects go to `effects`.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import pydantic

from durable import DurableProgram, PauseForEventException, make_durable

effects: list[Any] = []


# -- super() in durable methods ----------------------------------------------------------------


@dataclass
class Account:
    owner: str
    balance: int = 0

    def describe(self) -> str:
        return f"account of {self.owner}"

    @classmethod
    def kind(cls) -> str:
        return f"kind {cls.__name__}"

    @make_durable
    async def deposit(self, amount: int) -> int:
        effects.append(("base deposit", amount))
        raise PauseForEventException("base-deposit")
        self.balance += amount
        return self.balance

    @classmethod
    @make_durable
    async def opened(cls, owner: str) -> str:
        raise PauseForEventException("base-open")
        return f"{cls.__name__} for {owner}"


@dataclass
class Savings(Account):
    rate: int = 2

    def describe(self) -> str:
        return "savings " + super().describe()

    @make_durable
    async def deposit(self, amount: int) -> Any:
        before = super().describe()
        raise PauseForEventException("savings-deposit")
        total = await super().deposit(amount * self.rate)  # a durable parent method: pauses
        return before, total, super().describe(), __class__.__name__, self.balance

    @classmethod
    @make_durable
    async def opened(cls, owner: str) -> Any:
        first = super().kind()
        raise PauseForEventException("savings-open")
        inner = await super().opened(owner)
        return first, inner, super().kind()


class Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(ignored_types=(DurableProgram,))
    name: str
    hits: int = 0

    def label(self) -> str:
        return f"model {self.name}"


class Counted(Model):
    def label(self) -> str:
        return "counted " + super().label()

    @make_durable
    async def visit(self) -> Any:
        self.hits += 1
        raise PauseForEventException("visit")
        self.hits += 1
        return super().label(), self.label(), self.hits


def make_method_closure() -> Any:
    factor = 3

    class Local:
        async def scaled(self, x: int) -> int:  # L:method-closure
            return super().__hash__() * factor + x

    return Local.scaled


# -- functools.wraps(other) ----------------------------------------------------------------------


async def other(a: int, b: int, c: int) -> int:
    return a + b + c


@make_durable
@functools.wraps(min)  # min has no signature: inspect.signature(min) raises ValueError
async def wraps_builtin(x: int, y: int = 2) -> int:
    raise PauseForEventException("wb")
    return x * y


@make_durable
@functools.wraps(other)
async def wraps_other(x: int, *, scale: int = 10) -> int:  # L:wraps-other
    effects.append(("wraps_other", x, scale))
    raise PauseForEventException("wo")
    return x * scale


# -- nested functions live at a pause --------------------------------------------------------------


@make_durable
async def lambda_for_tampering(data: list[int]) -> list[int]:
    effects.append("started")
    k = 2
    key = lambda v: -v * k  # noqa: E731
    raise PauseForEventException("go")
    effects.append("resumed")
    return sorted(data, key=key)


@make_durable
async def lambda_over_lock() -> bool:
    lock = threading.Lock()
    holds = lambda: lock  # noqa: E731
    raise PauseForEventException("go")  # L:lock-pause
    return holds() is not None


@make_durable
async def dead_lambda_over_lock() -> str:
    lock = threading.Lock()
    holds = lambda: lock  # noqa: E731
    effects.append(holds() is lock)
    raise PauseForEventException("go")  # neither `holds` nor `lock` is live: nothing to save
    return "done"


@make_durable
async def nested_def_with_attributes() -> int:
    @functools.wraps(len)
    def size(v: Any) -> int:
        return len(v)

    raise PauseForEventException("go")  # L:attrs-pause
    return size([1])


@make_durable
async def self_referencing_lambda(n: int) -> int:
    fact = lambda v: 1 if v <= 1 else v * fact(v - 1)  # noqa: E731
    raise PauseForEventException("go")
    return fact(n)
