"""Harder shapes: rebinding loop variables, handler names, aliases, implicit exception context."""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import check, log, value
from .expressions import METER, num


async def plain_double(x: int) -> int:
    log("plain_double", x)
    return 2 * x


@make_durable
async def truthy_child(x: int) -> int:
    raise PauseForEventException(f"truthy-{x}")
    return x


@make_durable
async def case_loop_variable_rebound_before_pause():
    out = []
    for i in range(3):
        i = i * 10
        raise PauseForEventException("p")
        out.append(i)
    for a, b in [(1, 2), (3, 4)]:
        a, b = b, a
        raise PauseForEventException("q")
        out.append((a, b))
    return out


@make_durable
async def case_iterated_list_rebound_in_loop():
    items = [1, 2, 3]
    seen = []
    for x in items:
        items = ["replaced"]
        raise PauseForEventException(f"x-{x}")
        seen.append(x)
    log("items", items)
    return seen


@make_durable
async def case_handler_name_unbound_after_handler():
    try:
        raise ValueError("v")
    except ValueError as e:
        raise PauseForEventException("in-handler")
        log("handler", e.args)
    try:
        log("e after handler", e)  # noqa: F821  (unbound on purpose)
    except UnboundLocalError:
        log("e is unbound after the handler")
    return "ok"


@make_durable
async def case_implicit_exception_context_after_pause():
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise PauseForEventException("h")
            raise ValueError("second")
    except ValueError as err:
        log("context", type(err.__context__).__name__, err.__context__.args)
        return err.args


@make_durable
async def case_global_object_augassign_across_child_pause():
    METER.reading = 1
    METER.reading += await num(2)
    log("meter", METER.reading)
    return METER.reading


@make_durable
async def case_break_and_return_from_handler_after_pause():
    out = []
    for i in range(5):
        try:
            if i == 3:
                raise LookupError(i)
            out.append(i)
        except LookupError:
            raise PauseForEventException("handler")
            log("breaking", i)
            break
    while True:
        try:
            raise OSError("x")
        except OSError as e:
            raise PauseForEventException("second handler")
            return out, e.args
    return "unreachable"


@make_durable
async def case_continue_in_handler_after_pause():
    done = []
    for i in range(4):
        try:
            if i % 2:
                raise ValueError(i)
        except ValueError:
            raise PauseForEventException(f"odd-{i}")
            log("continue", i)
            continue
        done.append(i)
    return done


@make_durable
async def case_try_finally_break_in_while_true():
    n = 0
    while True:
        try:
            n += 1
            raise PauseForEventException(f"n-{n}")
            if n == 2:
                break
        finally:
            log("finally", n)
    return n


@make_durable
async def case_awaited_durable_condition():
    out = []
    for k in (0, 3):
        if await truthy_child(k):
            raise PauseForEventException("then")
            out.append(("then", k))
        elif check("elif", True):
            raise PauseForEventException("elif")
            out.append(("elif", k))
    while await truthy_child(len(out)) < 3:
        out.append("loop")
    return out


@make_durable
async def case_async_comprehension_before_pause():
    doubled = [await plain_double(i) for i in range(3)]
    raise PauseForEventException("go")
    log("doubled", doubled)
    more = {i: await plain_double(i) for i in doubled if i}
    return more


@make_durable
async def case_unbound_after_empty_loop():
    for item in []:
        found = item
    raise PauseForEventException("go")
    try:
        return found
    except UnboundLocalError:
        log("found is unbound")
    return None


@make_durable
async def case_user_names_like_generated():
    checkpoint = "user checkpoint"
    call_stack = ["user", "stack"]
    frame, ip, resuming, state = 1, 2, 3, 4
    raise PauseForEventException("go")
    log("names", checkpoint, call_stack, frame, ip, resuming, state)
    return checkpoint


@make_durable
async def case_recursion_exception_across_levels():
    try:
        await dive(3)
    except ArithmeticError as e:
        log("top caught", e.args)
        return e.args


@make_durable
async def dive(n: int) -> int:
    raise PauseForEventException(f"dive-{n}")
    if n == 0:
        raise ZeroDivisionError("bottom", n)
    try:
        return await dive(n - 1)
    finally:
        log("unwinding", n)


@make_durable
async def case_value_then_child_then_value_in_loop():
    acc = []
    for word in ("a", "b"):
        acc.append(value(f"pre-{word}", word) + str(await num(len(acc))) + value("post", "!"))
    return acc


@make_durable
async def pair(a: int, b: int) -> tuple:
    raise PauseForEventException("pair")
    return a, b


@make_durable
async def case_assignment_forms_with_await():
    a = b = await num(1)
    c, (d, e) = await pair(2, (3, 4))
    first, *rest = [await num(5), 6, 7]
    log("values", a, b, c, d, e, first, rest)
    raise ValueError(await num(8), value("arg", "x"))


async def case_star_args_before_await():  # undecorated: make_durable may refuse it
    args = [value("pos", 1)]
    return await pair(*args, await num(2))


@make_durable
async def case_double_star_kwargs_with_await():
    kwargs = {"a": value("a", 1)}
    return await pair(**kwargs, b=await num(2))


class Recorder:
    """A plain context manager (sync and async) that logs enter and exit."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Recorder:
        log("enter", self.name)
        return self

    def __exit__(self, *exc: object) -> None:
        log("exit", self.name, exc[0].__name__ if exc[0] else None)

    async def __aenter__(self) -> Recorder:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


async def agen(n: int):
    for i in range(n):
        yield await plain_double(i)


@make_durable
async def case_with_and_async_for_between_pauses():
    out = []
    with Recorder("sync"):
        out.append(await plain_double(1))
    raise PauseForEventException("between")
    async with Recorder("async") as rec:
        async for v in agen(3):
            out.append((rec.name, v))
    raise PauseForEventException("after")
    try:
        with Recorder("raising"):
            raise KeyError("inside with")
    except KeyError as e:
        out.append(e.args)
    return out


@make_durable
async def case_for_over_dict_views_and_starred_target():
    d = {"x": 1, "y": 2}
    out = []
    for k in d.keys():  # noqa: SIM118  (a keys view on purpose)
        raise PauseForEventException(f"key-{k}")
        out.append(k)
    for v in d.values():
        raise PauseForEventException(f"value-{v}")
        out.append(v)
    for head, *tail in [[1, 2, 3], [4]]:
        raise PauseForEventException("starred")
        out.append((head, tail))
    return out


@make_durable
async def case_child_exception_into_paused_handler_bare_raise():
    raise PauseForEventException("first")
    try:
        await truthy_child(0)
        await pair(1, 2)
        raise TimeoutError("from parent", 9)
    except TimeoutError:
        log("handler")
        raise PauseForEventException("in-handler")
        log("re-raising")
        raise
