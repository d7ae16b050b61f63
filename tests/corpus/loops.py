"""Loops with pauses inside: while/for, break/continue/else, nesting, many iterables."""

from __future__ import annotations

import collections

from durable import PauseForEventException, make_durable

from . import check, log


@make_durable
async def case_while_counter():
    i = 0
    while i < 3:
        log("top", i)
        raise PauseForEventException("tick")
        log("bottom", i)
        i += 1
    log("after loop", i)
    return i


@make_durable
async def case_while_condition_side_effect():
    i = 0
    while check(f"cond-{i}", i < 3):
        raise PauseForEventException(f"w-{i}")
        i += 1
    return i


@make_durable
async def case_while_break_continue():
    i = 0
    seen = []
    while True:
        i += 1
        if i == 2:
            log("skip", i)
            continue
        raise PauseForEventException(f"it-{i}")
        if i >= 4:
            log("break", i)
            break
        seen.append(i)
    return seen


@make_durable
async def case_while_else_runs():
    i = 0
    while i < 2:
        raise PauseForEventException("body")
        i += 1
    else:
        log("else", i)
    return i


@make_durable
async def case_while_else_skipped_by_break():
    i = 0
    while i < 5:
        raise PauseForEventException("body")
        i += 1
        if i == 2:
            break
    else:
        log("else ran")
    log("after", i)
    return i


@make_durable
async def case_while_pause_in_else():
    i = 0
    while check("cond", i < 2):
        log("body", i)
        i += 1
    else:
        log("else before", i)
        raise PauseForEventException("in-else")
        log("else after", i)
    return i


@make_durable
async def case_for_range():
    total = 0
    for i in range(2, 8, 2):
        log("i", i)
        raise PauseForEventException("r")
        total += i
    log("last i", i)
    return total


@make_durable
async def case_for_list_appended_during_loop():
    items = [1, 2]
    for x in items:
        raise PauseForEventException(f"x-{x}")
        if x < 3:
            items.append(x + 2)
        log("x", x)
    return items


@make_durable
async def case_for_tuple_unpacking():
    out = []
    for name, (a, b) in (("p", (1, 2)), ("q", (3, 4))):
        raise PauseForEventException(name)
        out.append(f"{name}={a + b}")
    log("last", name, a, b)
    return out


@make_durable
async def case_for_str():
    out = ""
    for ch in "héllo":
        if ch == "l":
            raise PauseForEventException(f"ch-{ch}")
        out = ch + out
        log("ch", ch)
    return out


@make_durable
async def case_for_dict_keys_values_mutated():
    d = {"b": 2, "a": 1, "c": 3}
    for k in d:
        raise PauseForEventException(f"k-{k}")
        d[k] = d[k] * 10
        log("k", k)
    return d


@make_durable
async def case_for_set():
    s = {"pear", "apple", "fig", "kiwi"}
    order = []
    for fruit in s:
        raise PauseForEventException("fruit")
        order.append(fruit)
    log("order", order)
    return sorted(order)


@make_durable
async def case_for_dict_items():
    d = {3: "c", 1: "a", 2: "b"}
    pairs = []
    for k, v in d.items():
        log("pair", k, v)
        raise PauseForEventException(f"item-{k}")
        pairs.append((v, k))
    return pairs


@make_durable
async def case_for_break_continue_else():
    out = []
    for i in range(6):
        if i % 2:
            log("continue", i)
            continue
        raise PauseForEventException(f"even-{i}")
        if i == 4:
            log("break", i)
            break
        out.append(i)
    else:
        log("else ran")
    return out


@make_durable
async def case_for_pause_in_else():
    out = []
    for i in range(2):
        out.append(i)
    else:
        log("else", out)
        raise PauseForEventException("else")
        out.append("else")
    return out


@make_durable
async def case_for_pause_in_body_and_else():
    for i in range(2):
        raise PauseForEventException(f"body-{i}")
        log("body", i)
    else:
        raise PauseForEventException("else")
        log("else", i)
    return i


@make_durable
async def case_nested_loops():
    cells = []
    for r in range(3):
        if r == 1:
            log("skip row", r)
            continue
        c = 0
        while True:
            raise PauseForEventException(f"cell-{r}-{c}")
            cells.append((r, c))
            c += 1
            if c == 2:
                break
        log("row done", r)
    return cells


@make_durable
async def case_early_return_in_loop():
    for i in range(10):
        raise PauseForEventException(f"i-{i}")
        if i == 2:
            log("returning", i)
            return i * 100
        log("i", i)
    return -1


@make_durable
async def case_return_in_try_finally_in_loop():
    for i in range(5):
        try:
            raise PauseForEventException(f"t-{i}")
            if i == 1:
                log("return", i)
                return i
            log("body", i)
        finally:
            log("finally", i)
    return -1


@make_durable
async def case_continue_through_finally():
    out = []
    for i in range(3):
        try:
            raise PauseForEventException("t")
            if i == 1:
                continue
            out.append(i)
        finally:
            log("finally", i)
    return out


async def more(i: int) -> bool:
    """A plain coroutine used as a loop condition."""
    log("more?", i)
    return i < 2


@make_durable
async def case_while_awaited_condition():
    i = 0
    while await more(i):
        raise PauseForEventException(f"w-{i}")
        i += 1
    else:
        log("else", i)
    return i


@make_durable
async def case_pause_in_if_in_try_in_loop():
    out = []
    for i in range(4):
        try:
            if check(f"odd-{i}", i % 2):
                raise PauseForEventException(f"odd-{i}")
                raise ArithmeticError(i)
            out.append(i)
        except ArithmeticError as e:
            log("caught", e.args)
            out.append(-i)
    return out


@make_durable
async def case_pause_then_break_in_for():
    for i in ["a", "b"]:
        log("i", i)
        raise PauseForEventException("e")
        break
    return "after"


@make_durable
async def case_pause_then_return_in_for():
    for i in ["a", "b"]:
        raise PauseForEventException("e")
        return i
    return "unreachable"


@make_durable
async def case_for_dict_grows_after_pause():
    d = {"a": 1, "b": 2, "c": 3}
    for k in d:
        log("k", k)
        raise PauseForEventException(f"grow-{k}")
        if k == "b":
            d["z"] = 26  # plain Python: the next step raises RuntimeError
    return d


@make_durable
async def case_for_dict_shrinks_before_pause():
    d = {"a": 1, "b": 2, "c": 3}
    for k, v in d.items():
        log("kv", k, v)
        if k == "a":
            del d["c"]
        raise PauseForEventException(f"shrink-{k}")
    return d


@make_durable
async def case_for_dict_grows_on_last_item():
    d = {"a": 1, "b": 2}
    for v in d.values():
        raise PauseForEventException(f"v-{v}")
        log("v", v)
        if v == 2:
            d["c"] = 3  # the step that would end the loop raises instead
    return d


@make_durable
async def case_for_dict_values_changed_in_place():
    d = {"a": 1, "b": 2, "c": 3}
    for k in d:
        raise PauseForEventException(f"double-{k}")
        d[k] *= 2  # same size: allowed
    return d


@make_durable
async def case_for_set_grows_after_pause():
    s = {"pear", "apple", "fig"}
    seen = []
    for fruit in s:
        seen.append(fruit)
        raise PauseForEventException("fruit")
        if len(seen) == 2:
            s.add("kiwi")
    log("seen", seen)
    return sorted(seen)


@make_durable
async def case_iterators_held_across_a_pause():
    d = {"x": 1, "y": 2, "z": 3}
    s = {10, 20, 30, 40}
    keys, values, items, members = iter(d), iter(d.values()), iter(d.items()), iter(s)
    first = (next(keys), next(values), next(items), next(members))
    raise PauseForEventException("held")
    rest = (list(keys), list(values), list(items), list(members))
    log("first", first[:3], "rest", rest[:3])
    return first[3] in s and sorted([first[3], *rest[3]]) == sorted(s)


@make_durable
async def case_for_counter_and_defaultdict():
    counts = collections.Counter("abracadabra")
    groups = collections.defaultdict(list, {"x": [1], "y": [2]})
    out = []
    for letter, n in counts.items():
        raise PauseForEventException(f"letter-{letter}")
        out.append((letter, n))
    for key in groups:
        raise PauseForEventException(f"group-{key}")
        out.append(key)
    return out


@make_durable
async def case_for_enumerate_and_zip():
    names = ["ann", "bob", "cy"]
    scores = {"ann": 3, "bob": 5, "cy": 8}
    out = []
    for i, name in enumerate(names, start=1):
        raise PauseForEventException(f"seat-{i}")
        out.append((i, name))
        if i == 2:
            names.append("dee")  # a list iterator sees the growth, as in Python
            scores["dee"] = 13
    for name, (key, score) in zip(names, scores.items(), strict=False):
        log("pair", name, key)
        raise PauseForEventException(f"pair-{name}")
        out.append((name, score))
    return out


@make_durable
async def case_for_zip_strict_unequal():
    out = []
    for a, b in zip([1, 2, 3], "xy", strict=True):
        raise PauseForEventException(f"z-{a}")
        out.append((a, b))
    return out


@make_durable
async def case_enumerate_held_across_a_pause():
    it = enumerate("abc", 10)
    first = next(it)
    raise PauseForEventException("held")
    return first, list(it)


# -- a dict or set whose size changed before a pause: Python raises at the next step only --


@make_durable
async def case_dict_grows_before_pause_rest_of_body_runs():
    d = {"a": 1, "b": 2}
    for k in d:
        log("k", k)
        if k == "a":
            d["z"] = 26
        raise PauseForEventException(f"g-{k}")
        log("after pause", k, dict(d))  # runs; the next step raises RuntimeError
    return d


@make_durable
async def case_dict_shrinks_before_pause_then_break():
    d = {"a": 1, "b": 2, "c": 3}
    for k, v in d.items():
        log("kv", k, v)
        del d["c"]
        raise PauseForEventException(f"s-{k}")
        log("after pause", k, v)
        break  # the loop never steps again: no error
    return d


@make_durable
async def case_dict_values_size_change_caught_after_pause():
    d = {"a": 1, "b": 2}
    seen = []
    try:
        for v in d.values():
            seen.append(v)
            d[f"n{v}"] = v
            raise PauseForEventException(f"v-{v}")
            seen.append(("after", v))
    except RuntimeError as e:
        log("raised", str(e), list(seen))
    return seen


@make_durable
async def case_set_grows_before_pause_rest_of_body_runs():
    s = {7}
    for x in s:
        s.add(8)
        raise PauseForEventException("set")
        log("after pause", x, sorted(s))
    return sorted(s)


@make_durable
async def case_set_shrinks_before_two_pauses_then_break():
    s = {1, 2, 3}
    for x in s:
        s.discard(x)
        raise PauseForEventException("one")
        log("between", x in s, len(s))
        raise PauseForEventException("two")
        log("then break", len(s))
        break
    return sorted(s)


@make_durable
async def case_dict_size_change_before_durable_call_in_nested_loop():
    d = {"a": 1}
    out = []
    for i in range(2):
        for k in d:
            d[f"{k}{i}"] = i
            out.append(await loop_child(i))
            log("after call", i, k)
            if i == 1:
                break
    return out, sorted(d)


@make_durable
async def loop_child(x):
    raise PauseForEventException(f"lc-{x}")
    return x * 10
