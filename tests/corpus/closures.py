"""Nested functions live across pauses: lambdas, nested ``def``s, closures and their cells.

A nested function made by the durable function is saved by reference to its definition with
its defaults and the cells it closes over; the frame's own variables share those cells, so an
assignment on either side after a resume is seen by the other, as in plain Python.
"""

from __future__ import annotations

import functools

from durable import PauseForEventException, make_durable

from . import log
from .nested import child_no_pause, child_pauses


@make_durable
async def case_lambda_key_across_pause():
    """The motivating case: a sort key made before a pause, used after it."""
    data = [3, 1, 2]
    key = lambda v: -v  # noqa: E731
    raise PauseForEventException("sort")
    log("sorted", sorted(data, key=key))
    return sorted(data, key=key)


@make_durable
async def case_shared_cell_frame_assigns_after_resume():
    """The frame assigns a captured variable after the resume; the lambda sees it."""
    k = 10
    scale = lambda v: v * k  # noqa: E731
    log("before", scale(2))
    raise PauseForEventException("k")
    log("same", scale(2))
    k = 3
    log("after", scale(2))
    return scale(5), k


@make_durable
async def case_shared_cell_nested_function_assigns():
    """A nested function rebinds the frame's variable with nonlocal, across pauses."""
    count = 0

    def bump(by=1):
        nonlocal count
        count += by
        return count

    bump()
    raise PauseForEventException("one")
    bump(5)
    log("count", count)
    raise PauseForEventException("two")
    count += 100
    return bump(), count


@make_durable
async def case_captured_variable_not_live_by_name():
    """The variable is reassigned after the pause (not live by name): the cell still links."""
    x = 1
    get = lambda: x  # noqa: E731
    raise PauseForEventException("x")
    x = 2
    return get()


@make_durable
async def case_two_lambdas_share_a_cell():
    """Two functions over one variable keep sharing it after the resume."""
    total = 0

    def add(v):
        nonlocal total
        total += v

    read = lambda: total  # noqa: E731
    add(2)
    raise PauseForEventException("t")
    add(3)
    return read(), total


@make_durable
async def case_defaults_and_kw_defaults():
    """Defaults and keyword-only defaults are evaluated once, at the definition."""
    base = [1]

    def f(a, b=base, *, c=len(base), d="d"):  # noqa: B008
        return a, b, c, d

    base.append(2)
    raise PauseForEventException("defaults")
    base.append(3)
    return f(0), f(0, c=9), f.__defaults__[0] is base, f.__name__, f.__qualname__


@make_durable
async def case_nested_closure_made_by_nested_function():
    """A closure made by a nested function (over its own variable) is saved with its cell."""

    def make(factor):
        return lambda v: v * factor

    triple = make(3)
    double = make(2)
    raise PauseForEventException("make")
    return triple(5), double(5), [make(4)(1)]


@make_durable
async def case_recursive_nested_function():
    """A nested function that calls itself through the frame's variable (a cell cycle)."""

    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    raise PauseForEventException("fact")
    return fact(6)


@make_durable
async def case_lambda_in_container_and_loop():
    """Lambdas kept in a list and a dict across pauses inside a loop."""
    fns = []
    table = {}
    for i in range(3):
        fns.append(lambda v, i=i: v + i)
        table[i] = lambda v: v * 10
        raise PauseForEventException(f"loop-{i}")
    return [f(100) for f in fns], table[2](4), fns[0] is not fns[1]


@make_durable
async def case_nested_async_def_across_pause():
    """A nested coroutine function (plain, not durable) made before a pause, awaited after."""
    prefix = "got"

    async def fetch(v):
        return f"{prefix}:{v}"

    raise PauseForEventException("fetch")
    prefix = "now"
    return await fetch(1)


@make_durable
async def case_lambda_across_nested_durable_call():
    """A lambda live across a nested durable call that pauses, then passed to a child."""
    offset = 7
    add = lambda v: v + offset  # noqa: E731
    got = await child_pauses(2)
    offset = 1
    plain = await child_no_pause(add(got))
    return add(0), plain


@make_durable
async def case_lambda_unbound_variable_at_pause():
    """A lambda over a variable still unbound at the pause: bound after the resume."""
    get = lambda: late  # noqa: E731
    raise PauseForEventException("late")
    late = "bound"
    return get()


@make_durable
async def case_lambda_with_reduce_after_pause(items: tuple = (1, 2, 3, 4)):
    """A two-argument lambda used by functools.reduce after the resume."""
    step = lambda acc, v: acc * 10 + v  # noqa: E731
    raise PauseForEventException("reduce")
    return functools.reduce(step, items, 0)


@make_durable
async def case_nested_def_closing_over_parameter(n: int = 4):
    """A nested def over a parameter; the parameter is rebound after the resume."""

    def times(v):
        return v * n

    raise PauseForEventException("param")
    first = times(2)
    n = 10
    return first, times(2)


@make_durable
async def case_closure_in_comprehension_after_resume():
    """A lambda made in a comprehension before the pause, called in one after it."""
    adders = [lambda v, k=k: v + k for k in range(3)]
    raise PauseForEventException("comp")
    return [f(10) for f in adders]
