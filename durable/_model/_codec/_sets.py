"""Rebuilding a set or frozenset so that it iterates in its saved order.

A set iterates in the order of its hash table's slots. For one sequence of hashes, that order
is fixed by the table's size and the order in which the items were put in (an item whose home
slot is taken probes further, so which of two colliding items sits first depends on which came
first). A set rebuilt item by item in its saved order, in a table of the size Python would
pick, can therefore come back in another order, even a three-item literal.

So the encoder saves the items in iteration order plus, when it is not the size a set of that
many items gets from ``set(dict)``, the table size (`table_size`, read from ``sys.getsizeof``
on CPython). The decoder (`fill_ordered`, `ordered_frozenset`) puts the items into a table of
that size in their saved order, and, when that does not give the saved order back (one of
two colliding items had probed past the other), in an order found by simulating CPython's
probing (`_insertion_order`), keeping the first build that iterates in the saved order.
Every set that never had an item removed comes back in its saved order. What remains:

* a set that had items removed left dummy slots, which are not saved: it comes back with the
  same items, usually but not always in the same order;
* the rebuilt table holds the items in the saved order but not always in the same slots, and
  may hold dummy slots of its own (a large table with few items): items added after the
  resume can then land in another order than in the original, and it may resize at another
  moment. A table larger than `_MAX_TABLE` slots is not rebuilt at that size;
* a frozenset built item by item from more than four items (``frozenset(list)``) grew its
  table; it is rebuilt by the same growth and may come back in another order;
* string hashes are salted per process (``PYTHONHASHSEED``): a set holding strings saved in
  one process cannot keep its order in another one, where its items hash differently; plain
  Python gives no cross-process order for it either.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any, Final

_CPYTHON: Final = sys.implementation.name == "cpython"
_EMPTY: Final = sys.getsizeof(set())
_ENTRY: Final = 2 * (sys.maxsize.bit_length() + 1) // 8  # a key pointer and a hash
_MIN: Final = 8
_MAX_TABLE: Final = 1 << 26  # never allocate a bigger table because a snapshot says so
_UNSIGNED: Final = (1 << (sys.maxsize.bit_length() + 1)) - 1


def presized(n: int) -> int:
    """The table size of ``set(d)`` for a dict (or set) `d` of `n` items."""
    size = _MIN
    if n * 5 >= (_MIN - 1) * 3:
        while size <= 2 * n:
            size <<= 1
    return size


def table_size(s: set[Any] | frozenset[Any]) -> int | None:
    """The size of `s`'s hash table when it is not `presized(len(s))`; None otherwise."""
    size = _table_of(s)
    return None if not size or size == presized(len(s)) else size


def valid_table_size(size: object, n: int) -> bool:
    """Whether `size` is a table size a set of `n` items has without removals (at most 8n:
    a table grows to four times its items, or is sized for twice two merged sets)."""
    return (
        type(size) is int
        and _MIN <= size <= min(_MAX_TABLE, 8 * n)
        and size & (size - 1) == 0
        and n * 5 < (size - 1) * 3
    )


def _first_difference(built: Any, order: Sequence[Any]) -> int:
    """The first position where `built` iterates another item than `order`; -1 if none (or
    if the order cannot be kept: equal items in `order`, from a damaged snapshot)."""
    if len(built) != len(order):
        return -1
    for i, (a, b) in enumerate(zip(built, order, strict=True)):
        if a is not b:
            return i
    return -1


# ---------------------------------------------------------------------------------------------
# Finding an insertion order: CPython's probing, simulated


def _probes(h: int, mask: int) -> Iterator[int]:
    """The slots CPython's set looks at, in order, for an item of hash `h` (setobject.c:
    up to LINEAR_PROBES = 9 neighbours when they fit, then a perturbed jump)."""
    perturb = h & _UNSIGNED
    i = perturb & mask
    while True:
        if i + 9 <= mask:
            yield from range(i, i + 10)
        else:
            yield i
        perturb >>= 5
        i = (i * 5 + 1 + perturb) & mask


def _candidates(
    h: int, mask: int, prev: int, taken: dict[int, int], low: int, budget: list[int]
) -> list[tuple[int, tuple[int, ...]]]:
    """Where an item of hash `h` can sit after slot `prev`: (slot, the slots its probe passed).

    Every slot passed must be taken: at or before `prev` by an earlier item (`taken`), after
    the chosen slot by a later one (the slots between `prev` and it stay empty). `low` is the
    first slot after `prev` an item placed earlier passed: it must not stay empty either.
    """
    out: list[tuple[int, tuple[int, ...]]] = []
    passed: list[int] = []
    bound = low  # the item sits at or before this slot
    for p in _probes(h, mask):
        budget[0] -= 1
        if bound <= prev or budget[0] < 0:
            break
        if p <= prev:
            if p not in taken:
                break  # an empty slot: the item would have stopped here
        elif p <= bound:
            out.append((p, tuple(passed)))
            bound = p - 1  # sitting further on, it passed p: a later item fills p
        passed.append(p)
    return out


def _insertion_order(order: Sequence[Any], size: int) -> list[Any] | None:
    """An order in which inserting `order`'s items into an empty table of `size` slots makes
    them iterate as `order`; None when none is found within a bounded search."""
    mask = size - 1
    hashes = [hash(x) for x in order]
    n = len(order)
    taken: dict[int, int] = {}  # slot -> item index
    need: dict[int, int] = {}  # slots placed items passed after their own -> how many
    slots: list[int] = []
    passed: list[tuple[int, ...]] = []
    choices: list[list[tuple[int, tuple[int, ...]]]] = []
    budget = [256 * n + 4096]  # probe steps, shared with _candidates: no quadratic search
    while n:
        if budget[0] < 0:
            return None
        i = len(slots)
        prev = slots[-1] if slots else -1
        if len(choices) == i:
            low = min((q for q in need if q > prev), default=mask)
            choices.append(_candidates(hashes[i], mask, prev, taken, low, budget))
        if choices[i]:
            slot, through = choices[i].pop(0)
            taken[slot] = i
            for q in through:
                if q > slot:
                    need[q] = need.get(q, 0) + 1
            slots.append(slot)
            passed.append(through)
            if len(slots) < n:
                continue
            if all(q in taken for q in need):
                insertion = _topological(order, passed, taken)
                if insertion is not None:
                    return insertion
                budget[0] -= n  # a cycle: items that each passed the other; search on
        else:  # no place left for item i: take back the previous one
            choices.pop()
            if not slots:
                return None
        _undo(slots.pop(), passed.pop(), taken, need)
    return None


def _undo(slot: int, through: tuple[int, ...], taken: dict[int, int], need: dict[int, int]) -> None:
    del taken[slot]
    for q in through:
        if q > slot:
            need[q] -= 1
            if not need[q]:
                del need[q]


def _topological(
    order: Sequence[Any], passed: list[tuple[int, ...]], taken: dict[int, int]
) -> list[Any] | None:
    """The items in an order where each comes after the items in the slots it passed."""
    n = len(order)
    after: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    for i, through in enumerate(passed):
        for q in set(through):
            after[taken[q]].append(i)
            waiting[i] += 1
    ready = [i for i in range(n) if not waiting[i]]
    out: list[Any] = []
    while ready:
        i = ready.pop()
        out.append(order[i])
        for j in after[i]:
            waiting[j] -= 1
            if not waiting[j]:
                ready.append(j)
    return out if len(out) == n else None


# ---------------------------------------------------------------------------------------------
# Rebuilding


def fill_ordered(target: set[Any], order: list[Any], size: int | None) -> None:
    """Put the items of `order` into the empty set `target` so that it iterates in that order
    where Python allows it, in a table of `size` slots (valid, see `valid_table_size`; None:
    the presized one).

    Tried in turn, each kept only if it iterates in `order`: the items in their saved order,
    then in an order found by simulating CPython's probing; in a table presized or grown item
    by item (as ``set(list)`` has), both without dummy slots; and last in a padded table whose
    dummy slots can make later additions land elsewhere than in the original.
    """
    size = size or presized(len(order))
    fills = [_fill_presized] if size == presized(len(order)) else [_fill_grown, _fill_padded]
    for insertion in _insertion_orders(order, size):
        for fill in fills:
            target.clear()
            fill(target, insertion, size)
            if _table_of(target) == size and _first_difference(target, order) < 0:
                return


def _insertion_orders(order: list[Any], size: int) -> Iterator[list[Any]]:
    yield order
    insertion = _insertion_order(order, size) if _CPYTHON else None
    if insertion is not None:
        yield insertion


def _fill_presized(s: set[Any], order: Sequence[Any], size: int) -> None:
    s.update(dict.fromkeys(order))  # sizes the table for 2 * len(order) first


def _fill_grown(s: set[Any], order: Sequence[Any], size: int) -> None:
    for x in order:
        s.add(x)


def _fill_padded(s: set[Any], order: Sequence[Any], size: int) -> None:
    """`order` into a table of `size` slots: set.update(dict) sizes the table for twice the
    dict's length first, so pad the dict to reach `size` (the padding goes in after the items
    and then leaves dummy slots); the items that do not fit that way are added one by one."""
    head = min(len(order), 3 * size // 8)
    pad = [object() for _ in range(max(size >> 2, 5) - head)]
    s.update(dict.fromkeys([*order[:head], *pad]))
    for p in pad:
        s.discard(p)
    for x in order[head:]:
        s.add(x)


def _table_of(s: set[Any] | frozenset[Any]) -> int:
    if not _CPYTHON:
        return 0
    extra = sys.getsizeof(s) - _EMPTY
    return extra // _ENTRY if extra > 0 else _MIN


def ordered_frozenset(order: list[Any], size: int | None) -> frozenset[Any]:
    """A frozenset of the items of `order` that iterates in that order where Python allows
    it: presized as ``frozenset(set)`` makes it, or grown as ``frozenset(list)`` does."""
    size = size or presized(len(order))
    attempts: list[frozenset[Any]] = []
    for insertion in _insertion_orders(order, size):
        built = frozenset(dict.fromkeys(insertion) if size == presized(len(order)) else insertion)
        if _first_difference(built, order) < 0:
            return built
        attempts.append(built)
    return attempts[0]
