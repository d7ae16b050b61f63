"""A set or frozenset comes back iterating in its saved order (`durable._model._codec._sets`).

Within one process (string hashes are salted per process, in plain Python too), a set that
never had items removed must iterate after a round trip exactly as before, however it was
built: a literal, ``set(list)``, a copy, a union, a comprehension.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable._model._codec import Decoder, Encoder
from durable._model._codec._sets import fill_ordered, valid_table_size


def roundtrip(value: Any) -> Any:
    encoded = Encoder().encode(value, "v")
    return Decoder().decode(json.loads(json.dumps(encoded)))


def assert_same_order(rebuilt: Any, original: Any) -> None:
    assert type(rebuilt) is type(original)
    assert list(rebuilt) == list(original)
    assert repr(rebuilt) == repr(original)


def test_small_literals_keep_their_order() -> None:
    assert_same_order(roundtrip({"s0", "t", 3}), {"s0", "t", 3})
    assert_same_order(roundtrip(frozenset({"s0", "t", 3})), frozenset({"s0", "t", 3}))
    # Every three-item literal of short strings and small ints: collisions in the 8-slot
    # table are common, and which colliding item comes first depends on insertion order.
    pool: list[Any] = [f"s{i}" for i in range(12)] + list(range(-4, 12)) + ["t", "u", 0.5]
    rng = random.Random(7)
    for _ in range(400):
        a, b, c = rng.sample(pool, 3)
        assert_same_order(roundtrip({a, b, c}), {a, b, c})


def _values(rng: random.Random, n: int) -> list[Any]:
    makers: list[Callable[[], Any]] = [
        lambda: rng.randrange(10**6),
        lambda: f"k{rng.randrange(10**6)}",
        lambda: rng.random(),
        lambda: (rng.randrange(100), "x"),
    ]
    return [rng.choice(makers)() for _ in range(n)]


BUILDERS: dict[str, Callable[[list[Any], list[Any]], Any]] = {
    "set(list)": lambda a, b: set(a),
    "copy": lambda a, b: set(set(a)),
    "comprehension": lambda a, b: {x for x in a},
    "union": lambda a, b: set(a) | set(b),
    "update": lambda a, b: (lambda s: (s.update(b), s)[1])(set(a)),
    "frozenset(set)": lambda a, b: frozenset(set(a)),
    "frozenset(small list)": lambda a, b: frozenset(a[:4]),
}


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
@pytest.mark.parametrize("n", [1, 3, 4, 5, 7, 12, 19, 40, 200])
def test_built_sets_keep_their_order(build: Callable[[list[Any], list[Any]], Any], n: int) -> None:
    rng = random.Random(n)
    for _ in range(40 if n < 100 else 4):
        original = build(_values(rng, n), _values(rng, n))
        assert_same_order(roundtrip(original), original)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.integers(), st.text(max_size=4), st.floats(allow_nan=False)), max_size=30)
)
def test_any_set_without_removals_keeps_its_order(items: list[Any]) -> None:
    for original in (set(items), {*items}, set(set(items)), frozenset(set(items))):
        assert_same_order(roundtrip(original), original)


def test_order_and_sharing_inside_containers() -> None:
    s = {"s0", "t", 3, 4.5, ("a", 1)}
    a, b = roundtrip([s, s])
    assert a is b
    assert_same_order(a, s)


def test_a_set_with_removals_keeps_its_items() -> None:
    """The documented limit: a set that had removals may come back in another order (its
    dummy slots are not saved), but always with the same items."""
    rng = random.Random(3)
    for _ in range(50):
        s = set(_values(rng, 30))
        for x in list(s)[::3]:
            s.discard(x)
        assert roundtrip(s) == s


@pytest.mark.parametrize("size", [-8, 0, 3, 12, 1 << 40, "32", 8.0, True])
def test_a_bad_table_size_is_ignored(size: object) -> None:
    assert not valid_table_size(size, 5)
    node = {"$t": "set", "v": [1, 2, 3, 4, 5], "m": size, "$id": 0}
    assert Decoder().decode(node) == {1, 2, 3, 4, 5}


def test_equal_items_in_a_damaged_snapshot_still_make_a_set() -> None:
    target: set[Any] = set()
    fill_ordered(target, [1, 1.0, 2], 64)
    assert target == {1, 2}
