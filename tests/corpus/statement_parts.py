"""Awaited calls in the parts of statements that are not plain expressions.

Assignment, augmented-assignment, annotated-assignment, ``for`` and ``del`` targets; ``assert``
messages; ``match`` guards; ``except`` types; ``with`` items; defaults, decorators and bases.
Each part runs once, in Python's order, with a pause (a nested durable call that pauses) in the
middle; `Table` logs every read, store and delete, so the log shows when each one happened.
"""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from durable import PauseForEventException, make_durable

from . import check, log, value
from .expressions import Box, concat, num, plain_num


@dataclass
class Table:
    """A mapping that logs item reads, stores and deletes (saveable: a dataclass)."""

    name: str
    items: dict[Any, Any] = field(default_factory=dict)

    def __getitem__(self, key: Any) -> Any:
        log("get", self.name, key)
        return self.items[key]

    def __setitem__(self, key: Any, v: Any) -> None:
        log("set", self.name, key, v)
        self.items[key] = v

    def __delitem__(self, key: Any) -> None:
        log("del", self.name, key)
        del self.items[key]


@dataclass
class Holder:
    table: Table


@make_durable
async def fail(x: int) -> int:
    """A durable child that pauses, then raises KeyError."""
    log("fail", x)
    raise PauseForEventException(f"fail-{x}")
    raise KeyError("fail", x)


@make_durable
async def grow(items: list[int], x: int) -> int:
    """A durable child that appends to the caller's list on both sides of a pause."""
    items.append(x)
    raise PauseForEventException(f"grow-{x}")
    items.append(-x)
    return len(items)


def boom(label: str) -> int:
    log("boom", label)
    raise ValueError(label)


def types_for(n: int) -> Any:
    """Exception types chosen by a number (a non-type for 30: `except` raises TypeError)."""
    log("types_for", n)
    return {0: KeyError, 10: (ValueError, LookupError), 20: IndexError}.get(n, "nope")


def tagged(fn: Any) -> Any:
    log("decorate", fn.__name__)
    return fn


@contextmanager
def tracked(label: str, v: Any = None) -> Any:
    log("enter", label)
    try:
        yield v
    finally:
        log("exit", label)


@asynccontextmanager
async def atracked(label: str, v: Any = None) -> Any:
    log("aenter", label)
    try:
        yield v
    finally:
        log("aexit", label)


async def counted(n: int) -> Any:
    for i in range(n):
        log("yield", i)
        yield i


class Base:
    def __init_subclass__(cls, tag: Any = None, **kwargs: Any) -> None:
        log("init_subclass", cls.__name__, tag)
        super().__init_subclass__(**kwargs)


# -- assignment targets ----------------------------------------------------------------------


@make_durable
async def case_await_in_subscript_target():
    t = Table("t")
    value("obj", t)[value("k", 0) + await num(1)] = value("value", "v1")
    a = value("obj", t)[await num(2)] = b = value("value", [2])
    log("a is b", a is b, t.items[20] is a)
    return t.items


@make_durable
async def case_await_in_attribute_target():
    boxes = [Box(0), Box(1)]
    value("boxes", boxes)[await num(0) + value("index", 1)].value = value("value", 5)
    value("boxes", boxes)[0].value = await num(3)
    return boxes


@make_durable
async def case_await_in_unpacking_targets():
    t, u = Table("t"), Table("u")
    first, value("t", t)[await num(1)], *value("u", u)[await num(2)] = value("seq", "abcd")
    (value("t", t)[value("k", 0)], (u[await num(3)], last)), t[await num(4)] = value(
        "nested", [(1, [2, 3]), 4]
    )
    log("first", first, "last", last)
    try:
        first, t[await num(5)] = value("too many", [1, 2, 3])  # fails before any store
    except ValueError as e:
        log("unpack failed", e.args, first)
    return t.items, u.items


@make_durable
async def case_exception_in_target_after_pause():
    t = Table("t")
    try:
        value("obj", t)[await num(1) + boom("key")] = value("value", 1)
    except ValueError as e:
        log("caught", e.args)
    try:
        value("obj", t)[await fail(2)] = value("value", 2)
    except KeyError as e:
        log("caught", e.args)
    try:
        boom("obj")[await num(3)] = value("value", 3)
    except ValueError as e:
        log("caught", e.args)
    return t.items


@make_durable
async def case_walrus_rebinds_name_read_earlier():
    t = Table("t")
    k = 1
    t[(k := value("k", 2)) + await num(1)] = k  # the value (old k) is read first
    j = 3
    t[j] = 0
    t[j] += (j := value("j", 4)) + await num(2)  # the key (old j) is read before the right side
    n = 5
    s = concat(n, await num(n := value("n", 6)))  # old n, though the await rebinds it
    raise PauseForEventException(e := value("event", "e1"))  # bound before the pause
    return t.items, k, j, n, s, e


# -- augmented and annotated assignment ------------------------------------------------------


@make_durable
async def case_await_in_augmented_targets():
    t = Table("t", {10: 1, 20: 100})
    value("obj", t)[await num(1)] += value("rhs", 5)
    h = Holder(t)
    value("holder", h).table[await num(2)] += await num(3)
    boxes = [Box(7)]
    value("boxes", boxes)[await num(0)].value *= value("rhs", 2)
    try:
        t[await num(4)] += 1  # missing key: KeyError after the pause, before the right side
    except KeyError as e:
        log("caught", e.args)
    return t.items, boxes


@make_durable
async def case_await_in_annotated_targets():
    t = Table("t")
    value("obj", t)[await num(1)]: int = value("value", 5)
    t[0]: int = await num(2)
    value("obj", t)[await num(3)]: int  # evaluates the object and key, stores nothing
    box = Box(0)
    value("box", box).value: int = await num(4)
    x: value("annotation", int) = await num(5)  # a local's annotation is never evaluated
    return t.items, box, x


# -- for, del, assert ------------------------------------------------------------------------


@make_durable
async def case_await_in_for_target():
    t = Table("t")
    count = 0
    for value("obj", t)[await num(count)] in value("iterable", ["a", "b", "c"]):  # noqa: B020
        count += 1
        if count == 2:
            raise PauseForEventException("body")
        if count == 3:
            break
    else:
        log("never")
    for t[await num(9)] in []:
        log("never")
    return t.items, count


@make_durable
async def case_await_in_del_targets():
    t = Table("t", {10: "a", 20: "b", 30: "c", "x": "d"})
    x = "x"
    del value("obj", t)[await num(1)], x, value("obj", t)[value("key", "x")]
    del (t[await num(2)], t[await num(3)])
    try:
        del t[await num(4)]
    except KeyError as e:
        log("caught", e.args)
    try:
        log("x", x)  # noqa: F821  (deleted on purpose)
    except UnboundLocalError:
        log("x deleted")
    return t.items


@make_durable
async def case_await_in_assert_message():
    assert value("test", True), await num(1)  # the message is not evaluated
    try:
        assert value("test", 0), concat(value("msg", "m"), await num(2))
    except AssertionError as e:
        log("caught", e.args)
    try:
        assert await num(0), (await num(3), value("second", 2))
    except AssertionError as e:
        log("caught", e.args)
    try:
        assert value("test", False), await fail(4)  # the message raises instead
    except KeyError as e:
        log("caught", e.args)
    return "done"


# -- match guards ----------------------------------------------------------------------------


@make_durable
async def case_match_awaiting_guards():
    out = []
    for n in range(4):
        match value("subject", [n, n + 1]):
            case [0, b] if await num(b) > value("limit", 100):
                out.append(("never", b))
            case [a, b] if check("plain guard", a == 1):
                raise PauseForEventException("plain")
                out.append(("plain", a, b))
            case [a, b] if await num(a) >= value("limit", 20):
                out.append(("awaited", a, b))
                raise PauseForEventException(f"awaited-{a}")
            case [a, *_]:
                out.append(("rest", a))
        log("after match", n)
    return out


@make_durable
async def case_match_failed_guard_keeps_captures():
    match value("subject", (1, 2)):
        case (x, y) if await num(x) > 100:
            log("never")
        case (1, z) | (z, 1) if check("second", z == 3):
            log("never")
        case (1, w):
            raise PauseForEventException("body")
    return x, y, z, w


@make_durable
async def case_match_capture_rebinds_subject_name():
    pair = value("pair", [3, 4])
    match pair:  # the later cases still match the subject, not the rebound name
        case [pair, _] if await num(pair) > 100:
            log("never")
        case [a, b] if (pair := value("walrus", a + b)) > 100:
            log("never")
        case [a, b] if await num(b) > 0:
            log("third", a, b, pair)
    return pair


@make_durable
async def case_match_guard_sees_mutated_subject():
    items = [1]
    match items:
        case [_] if await grow(items, 2) > 5:
            log("never")
        case [1, 2, -2]:
            log("grown", items)
        case _:
            log("never")
    return items


@make_durable
async def case_match_guard_raises():
    out = []
    for n in (0, 1, 2):
        try:
            match await num(n):
                case 0 if await fail(n):
                    out.append("never")
                case 10 if check("ten", True) and await num(5):
                    out.append("ten")
                case v if (w := await num(v // 10)) and boom(f"guard-{w}"):
                    out.append("never")
        except (KeyError, ValueError) as e:
            log("caught", type(e).__name__, e.args)
    return out


@make_durable
async def case_match_no_case_matches():
    match value("subject", {"kind": "x"}):
        case {"kind": "y"} if await num(1):
            log("never")
        case {"kind": kind} if await num(2) > 100:
            log("never")
        case {"kind": "z"}:
            log("never")
    return kind


@make_durable
async def case_match_last_guard_awaits_in_loop():
    total = 0
    for n in range(5):
        match n:
            case 0:
                continue
            case 4 if await num(n):
                break
            case k if await num(k) < 30:
                total += k
    log("total", total, n)
    return total


# -- except types, with items ----------------------------------------------------------------


@make_durable
async def case_await_in_except_types():
    out = []
    for n in range(5):
        try:
            try:
                raise PauseForEventException(f"body-{n}")
                if n < 4:
                    raise [KeyError("k"), ValueError("v"), ZeroDivisionError(), OSError()][n]
            except check("first type", TypeError):
                out.append("never")
            except types_for(await num(n % 3)) as e:
                raise PauseForEventException(f"handler-{n}")
                out.append(("caught", type(e).__name__))
            except check("later type", ZeroDivisionError):
                out.append("later")
            except types_for(await num(2)):
                out.append("never")
            else:
                out.append("else")
            finally:
                log("finally", n)
        except OSError as e:
            log("propagated", type(e).__name__)
        try:
            log("e", e)
        except NameError:
            log("e unbound")
    return out


@make_durable
async def case_handler_types_not_evaluated_again():
    try:
        raise PauseForEventException("body")  # unwinds past every handler type
        local_type = KeyError  # a class cannot be saved: it is not live at the pauses
        raise KeyError("k")
    except check("computed", TypeError):
        log("never")
    except local_type as e:  # re-entered after the pause below: not evaluated again
        raise PauseForEventException("handler")
        log("caught", e.args)
    try:
        raise ValueError("v")
    except check("computed 2", TypeError):
        log("never")
    except (types_for(await num(2)), check("computed 3", ValueError)) as e:
        raise PauseForEventException("handler 2")
        log("caught", e.args)
    return "done"


@make_durable
async def case_await_in_except_type_with_pausing_finally():
    for n in (0, 1, 2):
        try:
            if n < 2:
                raise [KeyError("k"), ValueError("v")][n]
            return "returned"
        except types_for(await num(n)) as e:
            log("caught", e.args)
            continue
        finally:
            raise PauseForEventException(f"finally-{n}")
            log("finally", n)
    return "never"


@make_durable
async def case_except_type_not_an_exception():
    try:
        try:
            raise KeyError("k")
        except types_for(await num(3)):
            log("never")
    except TypeError as e:
        log("caught", type(e).__name__, type(e.__context__).__name__)
    return "done"


@make_durable
async def case_await_in_first_with_item():
    with value("cm", tracked(value("label", "a"), await num(1))) as a:
        log("inside", a)
    with tracked("b", await num(2)) as b, tracked("c", await plain_num(3)) as c:
        log("inside", b, c)
    async with atracked("d", await num(4)) as d:
        log("inside", d)
    async for i in counted(await num(0) + value("n", 2)):
        log("item", i)
    try:
        with tracked("e", await fail(5)):
            log("never")
    except KeyError as e:
        log("caught", e.args)
    return a, b, c, d


# -- definitions -----------------------------------------------------------------------------


@make_durable
async def case_await_in_defaults_and_decorators():
    @tagged
    def add(a=value("default a", 1), *, b=await num(2), c=value("default c", 3)):  # noqa: B008
        return a + b + c

    log("add", add())
    del add
    f = lambda x=await num(4), y=value("default y", 5): x + y  # noqa: E731, B008
    log("lambda", f())
    del f
    raise PauseForEventException("between")

    class Tagged(Base, tag=await num(6)):
        pass

    log("class", Tagged.__name__)
    try:

        def never(a=value("default a", 1), b=await fail(7)):  # noqa: B008
            log("never")

    except KeyError as e:
        log("caught", e.args)
    return "done"
