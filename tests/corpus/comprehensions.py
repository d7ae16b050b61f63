"""List, set and dict comprehensions awaiting durable calls: lowered into resumable loops.

Each part runs once, in Python's order (first iterable, then per item the conditions, inner
clauses, key before value); the comprehension's variables stay in its own scope.
"""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import check, log, value


@make_durable
async def step(tag: str, x: int) -> int:
    """A durable child that pauses (event named after both arguments), then returns 10 * x."""
    log("step", tag, x)
    raise PauseForEventException(f"{tag}-{x}")
    log("step resumed", tag, x)
    return x * 10


@make_durable
async def is_even(x: int) -> bool:
    """A pausing durable predicate."""
    log("is_even", x)
    raise PauseForEventException(f"even-{x}")
    return x % 2 == 0


@make_durable
async def upto(x: int) -> list[int]:
    """A pausing durable child returning an inner iterable: ``list(range(x))``."""
    log("upto", x)
    raise PauseForEventException(f"upto-{x}")
    return list(range(x))


@make_durable
async def no_pause(x: int) -> int:
    """A durable child that never pauses (safe to call where a pause could not be saved)."""
    log("no_pause", x)
    return x + 100


@make_durable
async def fail_after_pause(x: int) -> int:
    log("fail_after_pause", x)
    raise PauseForEventException(f"fail-{x}")
    if x == 2:
        raise ValueError("child failed", x)
    return x


async def plain_twice(x: int) -> int:
    """A plain coroutine, awaited inline."""
    log("plain_twice", x)
    return x * 2


@make_durable
async def case_list_element_pauses():
    got = [await step("elt", x) for x in value("xs", [1, 2, 3])]
    log("got", got)
    return got


@make_durable
async def case_list_condition_pauses():
    got = [value("elt", x) for x in value("xs", [1, 2, 3, 4]) if await is_even(x)]
    return got


@make_durable
async def case_conditions_in_order():
    got = [
        await step("c", x)
        for x in range(5)
        if check("first", x % 2 == 0)
        if await is_even(x // 2)
        if check("third", True)
    ]
    return got


@make_durable
async def case_inner_iterable_pauses():
    got = [(x, y) for x in value("xs", [1, 2, 3]) for y in await upto(x)]
    return got


@make_durable
async def case_two_for_clauses():
    got = [
        (x, await step(f"pair{x}", y))
        for x in value("xs", [1, 2, 3])
        if check("x", x != 2)
        for y in value("inner", range(x))
        if check("y", True)
    ]
    return got


@make_durable
async def case_element_reads_variable_around_pause():
    got = [(x, await step("around", x), x * 2) for x in [4, 5]]
    return got


@make_durable
async def case_two_awaits_per_item():
    got = [await step("a", x) + await step("b", x) for x in range(2)]
    raise PauseForEventException("after")
    return got


@make_durable
async def case_dict_value_pauses():
    d = {"a": 1, "b": 2, "c": 3}
    got = {value("key", k): await step(k, v) for k, v in d.items()}
    return got


@make_durable
async def case_dict_key_before_value():
    got = {await step("key", k): await step("value", k + 1) for k in range(2)}
    other = {value("k", k): value("v", await step("v", k)) for k in [7]}
    return got, other


@make_durable
async def case_dict_key_expression_evaluated_once():
    got = {value("key", k * 2): await step("kv", k) for k in range(3) if k}
    return got


@make_durable
async def case_set_comprehension():
    got = {await step("set", x % 2) for x in value("xs", [2, 3])}
    return sorted(got)


@make_durable
async def case_set_condition_and_inner_loop():
    got = {x * y for x in range(1, 4) if await is_even(x) or x == 3 for y in await upto(x)}
    return sorted(got)


@make_durable
async def case_walrus_binds_in_function():
    last = "unset"
    got = [(last := await step("w", x)) for x in range(3)]
    kept = [x for x in range(4) if (seen := check("seen", x)) > await step("t", x) - 21]
    log("after", last, seen)
    return got, last, kept, seen


@make_durable
async def case_variable_shadows_local():
    x = "outer x"
    k, v = "outer k", "outer v"
    got = [await step("shadow", x) for x in range(2)]
    raise PauseForEventException("between")
    table = {k: await step("kv", v) for k, v in [(1, 2)]}
    log("locals", x, k, v)
    return x, k, v, got, table


@make_durable
async def case_same_variable_in_two_comprehensions():
    first = [await step("one", x) for x in range(2)]
    second = [x + await step("two", x) for x in first]
    return first, second


@make_durable
async def case_outer_local_read_in_element():
    scale = 3
    got = [scale * await step("scale", x) for x in range(2)]
    scale = 5
    return got, scale


@make_durable
async def case_nested_comprehensions():
    got = [[await step(f"row{x}", y) for y in range(x)] for x in range(3)]
    flat = [y for x in got for y in x if await is_even(y // 10)]
    return got, flat


@make_durable
async def case_comprehension_inside_loop():
    rows = []
    for i in range(2):
        rows.append([await step(f"row{i}", x) for x in range(2)])
        log("row done", i)
    return rows


@make_durable
async def case_child_raises_inside():
    got = "before"
    try:
        got = [await fail_after_pause(x) for x in [1, 2, 3]]
    except ValueError as e:
        log("caught", e.args, got)
    return got


@make_durable
async def case_condition_raises_after_pause():
    try:
        return [x for x in range(3) if await is_even(x) and 1 // (x - 2) == -1]
    except ZeroDivisionError as e:
        log("caught", e.args)
        return "zero"


@make_durable
async def case_unhashable_key_after_value():
    try:
        return {value("key", [k]): await step("unhashable", k) for k in range(2)}
    except TypeError as e:
        log("caught", e.args)
        raise


@make_durable
async def case_inner_iterable_not_iterable():
    try:
        return [y for x in range(2) for y in await step("n", x)]
    except TypeError as e:
        log("caught", e.args)
        return "not iterable"


@make_durable
async def case_inside_larger_expression():
    got = value("before", [0]) + [await step("mid", x) for x in range(2)] + value("after", [9])
    total = value("base", 1) + sum({x: await step("sum", x) for x in [3]}.values())
    if [await step("test", x) for x in [1]] == value("expected", [10]):
        log("branch taken")
    return got, total


@make_durable
async def case_as_call_argument():
    log(
        "call",
        value("first", 1),
        [await step("arg", x) for x in range(2)],
        value("last", 2),
    )
    return "done"


@make_durable
async def case_walrus_before_comprehension_rebinds():
    y = 1
    got = value("y", y) + sum([(y := await step("rebind", x)) for x in range(2)])
    return got, y


@make_durable
async def case_first_iterable_awaits_too():
    got = [await step("both", x) for x in await upto(2)]
    return got


@make_durable
async def case_plain_awaits_in_comprehension():
    raise PauseForEventException("first")
    got = [await plain_twice(x) for x in range(3) if await plain_twice(x)]
    raise PauseForEventException("second")
    return got


@make_durable
async def case_partial_result_kept_across_pause():
    got = {x: [x] * 2 for x in range(2)}
    built = [got[x] + [await step("partial", x)] for x in got]
    return built


@make_durable
async def case_nothing_durable_inside():
    x = "outer"
    squares = [x * x for x in range(4) if x]
    table = {x: str(x) for x in squares}
    raise PauseForEventException("go")
    return x, squares, table


@make_durable
async def case_lambda_capture_stays_inline():
    # A lambda capturing the comprehension's variable keeps the comprehension native: a child
    # that does not pause runs there as before.
    got = [(lambda: x)() + await no_pause(x) for x in range(2)]
    raise PauseForEventException("after")
    return got


@make_durable
async def case_dict_over_dict_resumes_remaining_items():
    d = {"x": 1, "y": 2, "z": 3}
    got = {k: await step(k, v) for k in d if k != "y" for v in [d[k]]}
    return got


@make_durable
async def case_subscript_target():
    d = {"k": 0}
    got = [await step("sub", d["k"]) for d["k"] in value("xs", [1, 2])]
    return got, d


@make_durable
async def case_in_statement_parts():
    n = 0
    while len([x for x in range(n) if await is_even(x + n)]) < 1:
        n += 1
    match value("subject", n):
        case int(k) if [await step("guard", k)] == [10]:
            log("guard matched", k)
        case _:
            log("no case")
    raise PauseForEventException(str([await step("event", x) for x in [2]]))
    return n


@make_durable
async def case_in_try_finally_and_handler():
    try:
        try:
            got = [await step("body", x) for x in range(2)]
            raise KeyError("k", got)
        except KeyError as e:
            log("handler", [await step("handler", x) for x in range(2)])
            raise ValueError(*e.args) from None
        finally:
            log("finally", {x: await step("finally", x) for x in [5]})
    except ValueError as e:
        return e.args


@make_durable
async def case_inner_native_comprehension_reads_variable():
    got = [await step("cell", x) + len([y for y in range(5) if y < x]) for x in range(3)]
    return got


@make_durable
async def case_dict_size_changes_during_iteration():
    d = {1: "a", 2: "b"}
    try:
        return [await step("grow", k) + len(d.setdefault(k + 10, "new")) for k in d]
    except RuntimeError as e:
        log("caught", e.args)
        return sorted(d)


@make_durable
async def case_generator_iterable_with_plain_awaits():
    # Plain coroutines are no checkpoints: the live generator is never saved.
    got = [await plain_twice(x) for x in (value("gen", y) for y in range(3))]
    raise PauseForEventException("after")
    return got


@make_durable
async def case_materialised_enumerate():
    got = [(i, await step("enum", x)) for i, x in list(enumerate(value("xs", [7, 8])))]
    return got


@make_durable
async def case_returned_directly():
    return {k: [await step(k, x) for x in range(2)] for k in value("keys", ["p", "q"])}


@make_durable
async def case_comprehension_over_enumerate_calls_a_child():
    words = ["x", "yy", "zzz"]
    return [await step(w, i * len(w)) for i, w in enumerate(words)]
