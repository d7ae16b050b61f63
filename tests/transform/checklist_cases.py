"""Durable functions for tests/test_checklist.py, grouped by the item of the checklist
(/work/shared/research/transform.md §4) that uses them.

Side effects go to `effects` (cleared by the tests before each test), so a test sees exactly which
code ran: a repeated entry means a block re-ran, a missing one means code was skipped.
Functions that `make_durable` must refuse are left undecorated; the tests call `make_durable`
on them. Lines that tests look up end with a ``# L:<name>`` marker.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio

from durable import PauseForEventException, make_durable

effects: list[Any] = []
COUNTER = 0  # #36: module state, changed through `global`
GATE: dict[str, Any] = {"block": False, "started": None}  # #47: makes `slow_step` hang
HANDLES: list[Any] = []  # #38: an open file the test owns


def log(entry: Any) -> None:
    effects.append(entry)


def check(label: str, value: Any) -> Any:
    """A condition with a side effect: logs ("check", label), then returns `value`."""
    log(("check", label))
    return value


def value(label: str, v: Any) -> Any:
    """An expression with a side effect: logs ("eval", label), then returns `v`."""
    log(("eval", label))
    return v


# -- sequencing and events (#1-#5) ------------------------------------------------------------


@make_durable
async def greet(name: str) -> str:
    print(f"waiting to greet {name}")
    raise PauseForEventException("allow")
    return f"hello {name}"


@make_durable
async def two_pauses(tag: str) -> str:
    log(("A", tag))
    raise PauseForEventException("first")
    log(("B", tag))
    raise PauseForEventException("second")
    log(("C", tag))
    return f"done {tag}"


@make_durable
async def dynamic_events(n: int) -> int:
    for i in range(n):
        log(("wait", i))
        raise PauseForEventException(f"evt-{i}")
        log(("got", i))
    return n


@make_durable
async def fails_late(n: int) -> int:
    log("before")
    raise PauseForEventException("go")
    log("after")
    raise ValueError("late failure", n)


# -- loops (#6-#13) ---------------------------------------------------------------------------


@make_durable
async def after_loop(n: int) -> int:
    total = 0
    for i in range(n):
        raise PauseForEventException(f"tick-{i}")
        total += i
    log("after loop")
    return total


@make_durable
async def while_loop(n: int) -> int:
    i = 0
    while i < n:
        raise PauseForEventException(f"w-{i}")
        i += 1
    log("ended")
    return i


@make_durable
async def for_resume(items: Any) -> list[Any]:
    seen = []
    for x in items:
        log(("before", x))
        raise PauseForEventException(f"at-{x}")
        log(("after", x))
        seen.append(x)
    return seen


@make_durable
async def nested_loops() -> list[Any]:
    out: list[Any] = []
    for i in range(4):
        if i == 1:
            continue  # before the pause
        if i == 3:
            break  # before the pause
        for j in range(1, 5):
            if j == 2:
                continue  # before the pause
            raise PauseForEventException(f"p-{i}-{j}")
            if j == 1:
                out.append((i, j))
                continue  # after the pause
            if j == 3:
                break  # after the pause
            out.append(("never", i, j))
        out.append(("end", i))
    return out


@make_durable
async def for_else(items: list[str], stop: str) -> str:
    for x in items:
        raise PauseForEventException(f"body-{x}")
        if x == stop:
            log(("break", x))
            break
    else:
        log("else start")
        raise PauseForEventException("else")
        log("else end")
    return "done"


@make_durable
async def while_else(n: int, stop: int) -> int:
    i = 0
    while i < n:
        raise PauseForEventException(f"body-{i}")
        if i == stop:
            log(("break", i))
            break
        i += 1
    else:
        log("else start")
        raise PauseForEventException("else")
        log("else end")
    return i


@make_durable
async def counted_condition(n: int) -> int:
    i = 0
    while check(f"cond-{i}", i < n):
        raise PauseForEventException(f"c-{i}")
        i += 1
    return i


@make_durable
async def iterate_dict(d: dict[Any, str]) -> dict[Any, str]:
    for k in d:
        raise PauseForEventException(f"k-{k}")
        log(k)
        d[k] = "seen"  # mutated after the snapshot; the size stays the same
    return d


@make_durable
async def iterate_set(s: set[int]) -> list[int]:
    order = []
    for x in s:
        raise PauseForEventException(f"s-{x}")
        order.append(x)
    return order


def numbers() -> Any:
    yield 1
    yield 2


@make_durable
async def loop_over_generator() -> str:
    for x in numbers():
        raise PauseForEventException(f"g-{x}")  # L:generator-pause
        log(x)
    return "done"


async def items_async() -> Any:
    yield 1


async def pause_in_async_for() -> None:
    async for _ in items_async():
        raise PauseForEventException("x")  # L:async-for-pause


# -- branches (#14-#16) -----------------------------------------------------------------------


@make_durable
async def elif_chain(which: str) -> str:
    if check("if", which == "if"):
        raise PauseForEventException("in-if")
        result = "if"
    elif check("elif", which == "elif"):
        raise PauseForEventException("in-elif")
        result = "elif"
    else:
        raise PauseForEventException("in-else")
        result = "else"
    log("after")
    return result


@make_durable
async def nested_ifs(a: bool, b: bool) -> list[str]:
    out = []
    if check("a", a):
        raise PauseForEventException("a-then")
        out.append("a")
        if check("b", b):
            raise PauseForEventException("b-then")
            out.append("b")
        else:
            raise PauseForEventException("b-else")
            out.append("not b")
    else:
        raise PauseForEventException("a-else")
        out.append("not a")
        if check("b", b):
            raise PauseForEventException("b-then")
            out.append("b")
    return out


@make_durable
async def match_case(command: Any) -> Any:
    match command:
        case ("move", x) if check("guard", x > 0):
            raise PauseForEventException("forward")
            return ("forward", x)
        case ("move", x):
            raise PauseForEventException("back")
            return ("back", x)
        case _:
            return "unknown"


# -- exceptions (#17-#24) ---------------------------------------------------------------------


@make_durable
async def pause_in_try(fail: bool) -> str:
    try:
        log("try start")
        raise PauseForEventException("in-try")
        if fail:
            raise ValueError("late")
        log("try end")
    except ValueError as e:
        log(("caught", e.args))
        return "caught"
    return "clean"


@make_durable
async def around_except_exception() -> str:
    try:
        raise PauseForEventException("go")
    except Exception:
        log("handler")
        return "swallowed"
    return "resumed"


@make_durable
async def around_bare_except() -> str:
    try:
        raise PauseForEventException("go")
    except:  # noqa: E722
        log("handler")
        return "swallowed"
    return "resumed"


@make_durable
async def around_except_base_exception() -> str:
    try:
        raise PauseForEventException("go")
    except BaseException:
        log("handler")
        return "swallowed"
    return "resumed"


@make_durable
async def pausing_child() -> str:
    raise PauseForEventException("go")  # L:pausing-child
    return "resumed"


@make_durable
async def around_child_call() -> str:
    try:
        return await pausing_child()
    except BaseException:
        log("handler")
        return "swallowed"


@make_durable
async def with_finally() -> str:
    try:
        log("body")
        raise PauseForEventException("go")
        log("body end")
    finally:
        log("finally")
    return "done"


class AppError(Exception):
    """A user exception type, rebuilt from a snapshot by `module:qualname`."""


@make_durable
async def reraise_after_pause(kind: str) -> None:
    try:
        if kind == "value":
            raise ValueError("bad value", 42)
        raise AppError("app", {"k": 1})
    except (ValueError, AppError) as e:
        log(("handling", type(e).__name__))
        raise PauseForEventException("handled")
        log(("re-raising", type(e).__name__))
        raise


@make_durable
async def finally_pending_return() -> str:
    try:
        log("body")
        return "from try"
    finally:
        raise PauseForEventException("fin")
        log("finally end")


@make_durable
async def finally_pending_raise() -> None:
    try:
        log("body")
        raise KeyError("k")
    finally:
        raise PauseForEventException("fin")
        log("finally end")


@make_durable
async def finally_pending_break() -> list[int]:
    out = []
    for i in range(3):
        try:
            if i == 1:
                break
            out.append(i)
        finally:
            raise PauseForEventException(f"fin-{i}")
            log(("finally", i))
    return out


@make_durable
async def finally_pending_continue() -> list[int]:
    out = []
    for i in range(3):
        try:
            if i == 1:
                continue
            out.append(i)
        finally:
            raise PauseForEventException(f"fin-{i}")
            log(("finally", i))
    return out


@make_durable
async def return_through_finally_in_loop(n: int) -> Any:
    for i in range(n):
        try:
            if i == 2:
                return ("returned", i)
            log(("body", i))
        finally:
            raise PauseForEventException(f"fin-{i}")
            log(("finally", i))
    return "loop ended"


@make_durable
async def failing_child(pause_first: bool) -> None:
    if pause_first:
        raise PauseForEventException("child")
    raise ValueError("child failed")


@make_durable
async def catching_parent(pause_first: bool) -> str:
    try:
        await failing_child(pause_first)
    except ValueError as e:
        log(("caught", str(e)))
        raise PauseForEventException("after-catch")
        log("recovering")
        return "recovered"
    return "no error"


async def pause_in_try_star() -> None:
    try:
        raise PauseForEventException("x")  # L:try-star-pause
    except* ValueError:
        pass


@make_durable
async def try_star_then_pause() -> str:
    try:
        raise ExceptionGroup("group", [ValueError(1), TypeError(2)])
    except* ValueError as eg:
        log(("value errors", len(eg.exceptions)))
    except* TypeError as eg:
        log(("type errors", len(eg.exceptions)))
    raise PauseForEventException("after")
    return "ok"


# -- context managers (#25) -------------------------------------------------------------------


class Tracked:
    """A context manager that logs each enter and exit."""

    def __enter__(self) -> Tracked:
        log("enter")
        return self

    def __exit__(self, *exc: object) -> None:
        log("exit")

    async def __aenter__(self) -> Tracked:
        log("aenter")
        return self

    async def __aexit__(self, *exc: object) -> None:
        log("aexit")


async def pause_in_with() -> None:
    with Tracked():
        raise PauseForEventException("x")  # L:with-pause


async def pause_in_async_with() -> None:
    async with Tracked():
        raise PauseForEventException("x")  # L:async-with-pause


@make_durable
async def quiet_child(x: int) -> int:
    log(("child", x))
    return x * 2


@make_durable
async def child_inside_with(x: int) -> int:
    with Tracked():
        y = await quiet_child(x)
        await anyio.sleep(0)
    async with Tracked():
        z = await quiet_child(y)
    raise PauseForEventException("after-with")
    log("after pause")
    return z


@make_durable
async def child_pausing_inside_with() -> str:
    with Tracked():
        await pausing_child()  # L:child-in-with
    return "done"


# -- awaits and expressions (#26-#29) ---------------------------------------------------------


async def fetch(x: int) -> int:
    """A plain coroutine: awaited inline, not a checkpoint."""
    log(("fetch", x))
    await anyio.sleep(0)
    return x + 1


@make_durable
async def fetch_then_pause(x: int) -> int:
    y = await fetch(x)
    raise PauseForEventException("go")
    log("after pause")
    return y


@make_durable
async def pause_inside_user_handler() -> str:
    try:
        log("before")
        raise PauseForEventException("approve")
        log("approved")
        return "approved"
    except Exception as e:
        log(("handler", type(e).__name__))
        return "handled"


@make_durable
async def charge() -> str:
    log("charge")
    return "charged"


@make_durable
async def guarded_charge() -> str:
    try:
        r = await charge()
    except Exception as e:
        log(("refund", type(e).__name__))
        return "refunded"
    return r


@make_durable
async def three_blocks() -> str:
    log("A")
    raise PauseForEventException("one")
    log("B")
    raise PauseForEventException("two")
    log("C")
    return "done"


@make_durable
async def slow_value(label: str, v: Any) -> Any:
    """A durable child that pauses once before returning `v`."""
    log(("child", label))
    raise PauseForEventException(f"child-{label}")
    return v


def combine(*parts: Any) -> tuple[Any, ...]:
    return parts


@dataclass
class Box:
    total: int


def box_of(box: Box) -> Box:
    log("target")
    return box


@make_durable
async def sum_with_await() -> int:
    x = value("f", 1) + await slow_value("g", 2)
    return x


@make_durable
async def or_with_await(first: bool) -> Any:
    r = check("a", first) or await slow_value("g", "from g")
    return r


@make_durable
async def await_in_call_args() -> tuple[Any, ...]:
    r = combine(value("first", 1), await slow_value("g", 2), value("last", 3))
    return r


@make_durable
async def await_in_fstring() -> str:
    s = f"{value('pre', 'A')}-{await slow_value('g', 'B')}-{value('post', 'C')}"
    return s


@make_durable
async def await_in_walrus() -> Any:
    if (n := await slow_value("g", 5)) > 3:
        log(("big", n))
    return n


@make_durable
async def augmented_attribute() -> int:
    box = Box(10)
    box_of(box).total += await slow_value("g", 5)
    return box.total


@make_durable
async def two_awaits_in_one_statement() -> int:
    r = await slow_value("x", 1) * 10 + await slow_value("y", 2)
    return r


SERVICE = types.SimpleNamespace(lookup=slow_value)


def pick() -> Any:
    log("pick")
    return slow_value


@make_durable
async def attribute_call() -> Any:
    log("before")
    r = await SERVICE.lookup("attr", 1)
    log("after")
    return r


@make_durable
async def call_result_call() -> Any:
    log("before")
    r = await pick()("made", 2)
    log("after")
    return r


@make_durable
async def method_call(wallet: Wallet) -> int:
    log("before")
    r = await wallet.add(5)
    log("after")
    return r


# -- nested calls (#30-#32) -------------------------------------------------------------------


@make_durable
async def level3(x: int) -> int:
    log("level3 start")
    raise PauseForEventException("deep")
    log("level3 end")
    return x * 2


@make_durable
async def level2(x: int) -> int:
    y = await level3(x + 1)
    return y + 1


@make_durable
async def level1(x: int) -> tuple[str, int]:
    z = await level2(x * 10)
    return ("top", z)


@make_durable
async def countdown(n: int) -> list[int]:
    if n == 0:
        raise PauseForEventException("bottom")
        return [0]
    rest = await countdown(n - 1)
    raise PauseForEventException(f"up-{n}")
    return [n, *rest]


@make_durable
async def accumulate(tag: str, n: int) -> tuple[str, int]:
    total = 0
    for i in range(n):
        await anyio.sleep(0)  # lets the other instance run
        total += i
        log((tag, i))
    raise PauseForEventException("more")
    for _ in range(n):
        await anyio.sleep(0)
        total += 100
    return (tag, total)


# -- scopes and names (#33-#38) ---------------------------------------------------------------


@make_durable
async def read_maybe_bound(flag: bool) -> str:
    if flag:
        x = "bound"
    raise PauseForEventException("go")
    return x


@make_durable
async def deleted_before_pause(flag: bool) -> Any:
    x = [1, 2, 3]
    y = len(x)
    if flag:
        del x
    raise PauseForEventException("go")
    try:
        return x
    except UnboundLocalError:
        return ("deleted", y)


@make_durable
async def generated_looking_names(checkpoint: str, call_stack: list[str]) -> Any:
    __ip = 7
    frame, resume, live, suspending, pause = "frame", "resume", "live", "suspending", "pause"
    state, point, _dur = "state", "point", "dur"
    raise PauseForEventException("go")
    __ip += 1
    return (
        checkpoint,
        call_stack,
        __ip,
        frame,
        resume,
        live,
        suspending,
        pause,
        state,
        point,
        _dur,
    )


async def uses_reserved_prefix() -> int:
    _dur_ip = 1  # L:reserved-prefix
    raise PauseForEventException("go")
    return _dur_ip


@make_durable
async def bump_global() -> int:
    global COUNTER
    COUNTER += 1
    raise PauseForEventException("go")
    COUNTER += 10
    return COUNTER


def make_closure() -> Any:
    factor = 3

    async def scaled(x: int) -> int:  # L:closure-def
        raise PauseForEventException("go")
        return x * factor

    return scaled


def make_nonlocal() -> Any:
    count = 0

    async def bump() -> int:  # L:nonlocal-def
        nonlocal count
        count += 1
        raise PauseForEventException("go")
        return count

    return bump


@make_durable
async def comprehension_shadow() -> Any:
    x = "outer"
    squares = [x * x for x in range(4)]
    raise PauseForEventException("go")
    return x, squares


@make_durable
async def lambda_captures_loop_var() -> list[int]:
    out = []
    for i in range(3):
        raise PauseForEventException(f"i-{i}")
        get = lambda: i * 10  # noqa: B023, E731
        out.append(get())
    return out


def plus_one(v: int) -> int:
    return v + 1


@make_durable
async def live_lambda() -> int:
    f = plus_one  # a module-level function: not saved by reference (lambdas made here are)
    raise PauseForEventException("go")  # L:lambda-pause
    return f(1)


@make_durable
async def live_generator() -> list[int]:
    f = (i for i in range(3))
    raise PauseForEventException("go")  # L:generator-live-pause
    return list(f)


@make_durable
async def live_file() -> str:
    f = HANDLES[0]
    raise PauseForEventException("go")  # L:file-pause
    return str(f.read())


@make_durable
async def unsaveable_inside_user_handler() -> str:
    f = str.upper
    try:
        raise PauseForEventException("go")
        log("after pause")
    except Exception as e:
        log(("handler", type(e).__name__))
    return str(f("done"))


# -- signatures and sources (#39-#41) ---------------------------------------------------------


@make_durable
async def all_params(a: int, b: int = 2, /, c: int = 3, *args: int, d: int, e: int = 5, **kw: Any):
    raise PauseForEventException("go")
    return (a, b, c, args, d, e, kw)


@dataclass
class Account:
    owner: str
    balance: int


@make_durable
async def deposit(self: Account, amount: int) -> Account:
    """A method written as a module-level function: `self` is ordinary saved data."""
    self.balance += amount
    raise PauseForEventException("confirm")
    self.balance += 0 if amount > 0 else -amount
    return self


@dataclass
class Wallet:
    owner: str
    balance: int = 0

    @make_durable
    async def add(self, amount: int) -> int:
        self.balance += amount
        raise PauseForEventException("confirm")
        return self.balance

    @staticmethod
    @make_durable
    async def shout(name: str) -> str:
        raise PauseForEventException("go")
        return name.upper()

    @classmethod
    @make_durable
    async def open(cls, owner: str) -> Wallet:
        raise PauseForEventException("go")
        return cls(owner)


@make_durable
async def divide_after_resume(n: int) -> int:
    raise PauseForEventException("go")
    return 10 // n  # L:divide


@make_durable
async def parent_of_divide(n: int) -> int:
    r = await divide_after_resume(n)  # L:divide-call
    return r


# -- snapshots and versions (#42-#46) ---------------------------------------------------------


@make_durable
async def order_flow(item: str, qty: int) -> dict[str, Any]:
    log(("ordered", item))
    total = Decimal("9.99") * qty
    raise PauseForEventException("paid")
    log(("paid", str(total)))
    raise PauseForEventException("shipped")
    log("shipped")
    return {"item": item, "total": total}


@make_durable
async def shrinking_state(n: int) -> int:
    rows = list(range(n))
    raise PauseForEventException("first")  # rows is live here
    total = sum(rows)
    raise PauseForEventException("second")  # rows is dead here
    return total


@make_durable
async def calls_later_child(x: int) -> int:
    y = await defined_later(x)
    return y * MULTIPLIER


# -- cancellation and performance (#47-#48) ---------------------------------------------------


async def slow_step() -> int:
    """A plain coroutine that hangs while ``GATE["block"]`` is set."""
    log("slow start")
    if GATE["started"] is not None:
        GATE["started"].set()
    if GATE["block"]:
        await anyio.sleep_forever()
    log("slow end")
    return 7


@make_durable
async def waits_on_slow() -> int:
    log("a")
    raise PauseForEventException("go")
    log("b")
    v = await slow_step()
    log(("c", v))
    return v


@make_durable
async def parent_of_slow() -> int:
    log("parent")
    v = await waits_on_slow()
    log("parent end")
    return v + 1


@make_durable
async def hot_loop(n: int) -> int:
    total = 0
    for i in range(n):
        if i % 3:
            total += i * i
    return total


@make_durable
async def loop_then_pause(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    raise PauseForEventException("after loop")  # L:after-loop-pause
    return total


# -- defined after its caller was made durable (#46) ------------------------------------------


@make_durable
async def defined_later(x: int) -> int:
    raise PauseForEventException("later")
    return x * 3


MULTIPLIER = 2
