"""Branches: if/elif/else and match with pauses, conditions evaluated once, unbound names."""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import check, log


@make_durable
async def case_if_elif_else():
    taken = []
    for k in range(3):
        if check(f"if-{k}", k == 0):
            log("then", k)
            raise PauseForEventException(f"then-{k}")
            taken.append("then")
        elif check(f"elif-{k}", k == 1):
            log("elif", k)
            raise PauseForEventException(f"elif-{k}")
            taken.append("elif")
        else:
            log("else", k)
            raise PauseForEventException(f"else-{k}")
            taken.append("else")
        log("after if", k)
    return taken


@make_durable
async def case_nested_ifs():
    out = []
    for a in (True, False):
        for b in (True, False):
            if check("outer", a):
                raise PauseForEventException("outer-then")
                if check("inner", b):
                    raise PauseForEventException("inner-then")
                    out.append((a, b, "tt"))
                else:
                    raise PauseForEventException("inner-else")
                    out.append((a, b, "te"))
            elif check("outer-elif", b):
                raise PauseForEventException("elif")
                out.append((a, b, "e"))
            log("end", a, b)
    return out


@make_durable
async def case_if_pause_only_in_then():
    n = 0
    for k in range(4):
        if check("even", k % 2 == 0):
            n += 1
            raise PauseForEventException("even")
            n += 10
        else:
            n += 100
    log("n", n)
    return n


@make_durable
async def case_match_guard_side_effect():
    out = []
    for subject in [("move", 1, 2), ("say", "hi"), [1, 2, 3], {"kind": "k", "n": 5}, 7]:
        match subject:
            case ("move", x, y) if check("guard-move", x < y):
                log("move", x, y)
                raise PauseForEventException("move")
                out.append(x + y)
            case ("say", text):
                raise PauseForEventException("say")
                out.append(text)
            case [first, *rest] if check("guard-list", len(rest) > 5):
                out.append("never")
            case [first, *rest]:
                raise PauseForEventException("list")
                out.append((first, rest))
            case {"kind": kind, "n": n} if check("guard-map", n > 1):
                raise PauseForEventException(f"map-{kind}")
                out.append((kind, n))
            case _:
                log("default", subject)
        log("matched", subject)
    return out


@make_durable
async def case_unbound_after_pause():
    results = []
    for flag in (True, False):
        if flag:
            x = "set"
        raise PauseForEventException(f"go-{flag}")
        try:
            results.append(x)
        except UnboundLocalError:
            results.append("unbound")
        if flag:
            del x
    log("results", results)
    return results


@make_durable
async def case_maybe_unbound_read_after_pause():
    if check("define", False):
        y = 1
    raise PauseForEventException("go")
    try:
        log("y", y)
    except UnboundLocalError as e:
        log("unbound", type(e).__name__)
    y = 2
    raise PauseForEventException("again")
    return y


@make_durable
async def case_del_before_pause():
    x = [1, 2]
    keep = x
    del x
    raise PauseForEventException("go")
    try:
        log("x", x)  # noqa: F821  (unbound on purpose)
    except UnboundLocalError:
        log("x is unbound")
    return keep


@make_durable
async def case_assert_after_pause():
    n = 3
    raise PauseForEventException("go")
    assert n == 3, "n changed"
    log("assert ok")
    assert n == 4, ("n is", n)
    return "unreachable"
