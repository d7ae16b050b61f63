"""Exits from loops inside a ``try`` whose ``finally`` pauses or calls a durable child.

The ``try`` part ends through a completion record; a ``return`` (or ``break``/``continue``
of a loop outside the ``try``) from inside loops in the ``try`` part must leave every one of
them at once, however many other exits the ``try`` part holds.
"""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import check, log


@make_durable
async def fin_child(x):
    log("fin_child", x)
    raise PauseForEventException(f"fc-{x}")
    return x


@make_durable
async def case_return_in_loop_after_earlier_return():
    try:
        if check("early", False):
            return "first"
        for i in range(3):
            log("loop", i)
            return ("in loop", i)
        log("after loop")
        return "late"
    finally:
        log("finally")
        raise PauseForEventException("f")


@make_durable
async def case_return_in_loop_try_else():
    try:
        if check("early", False):
            return "first"
        for i in range(2):
            return ("in loop", i)
    except KeyError:
        log("handler")
        return "handler"
    else:
        log("else")
        return "else"
    finally:
        raise PauseForEventException("f")


@make_durable
async def case_return_in_nested_loops_durable_call_in_finally():
    try:
        for i in range(3):
            if check(f"a{i}", i == 5):
                return "never"
            for j in range(3):
                if j == 1:
                    return (i, j)
                log("inner", i, j)
            log("outer", i)
        return "after loops"
    finally:
        await fin_child(1)


@make_durable
async def case_return_in_while_else_with_earlier_return():
    n = 0
    try:
        if check("first", n > 1):
            return "first"
        while n < 3:
            n += 1
            if n == 2:
                return ("while", n)
        else:
            log("while else")
        log("after while")
    finally:
        raise PauseForEventException("f")
    return "end"


@make_durable
async def case_break_continue_return_through_finally_in_nested_loops():
    out = []
    for i in range(4):
        for j in range(3):
            try:
                if j == 0:
                    continue
                if i == 1:
                    break
                if i == 3 and j == 2:
                    return (out, i, j)
                for k in range(2):
                    if k == 1:
                        return ("k", out)
                    out.append((i, j, k))
                    if i == 2:
                        break
                out.append("after k")
            finally:
                out.append(("fin", i, j))
                raise PauseForEventException(f"f-{i}-{j}")
            out.append(("after try", i, j))
        log("outer", i, list(out))
    return out


@make_durable
async def case_return_in_loop_in_handler_with_pausing_finally():
    try:
        try:
            raise ValueError("v")
        except ValueError:
            if check("x", False):
                return "x"
            for i in range(2):
                for j in range(2):
                    return ("handler loop", i, j)
            log("after handler loops")
        return "after inner try"
    finally:
        raise PauseForEventException("f")


@make_durable
async def case_nested_pausing_finally_returns_in_loops():
    try:
        for i in range(2):
            try:
                if check("inner early", i > 5):
                    return "inner early"
                for j in range(2):
                    return ("inner", i, j)
            finally:
                log("inner finally", i)
                raise PauseForEventException(f"in-{i}")
            log("after inner try")
        return "after loop"
    finally:
        log("outer finally")
        raise PauseForEventException("out")


@make_durable
async def case_loop_else_return_with_pausing_finally():
    try:
        if check("early", False):
            return "early"
        for i in range(2):
            log("i", i)
        else:
            for j in range(2):
                return ("else loop", j)
        return "after"
    finally:
        raise PauseForEventException("f")
