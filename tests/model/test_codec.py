"""Tests for the tagged-JSON value codec (`durable._model._codec`).

The classes below live at module level on purpose: the codec finds user classes again by
``module:qualname`` in ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import io
import itertools
import json
import logging
import math
import queue
import re
import socket
import sqlite3
import sys
import threading
import types
import uuid
import weakref
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, RootModel

from durable._model._codec import (
    JSON,
    MAX_JSON_DEPTH,
    DecodeError,
    Decoder,
    Encoder,
    UnencodableValue,
)

MODULE = __name__

# Records every constructor a hostile snapshot manages to run; must stay empty.
SIDE_EFFECTS: list[str] = []


# -- module-level user types ------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    READ = "r"
    WRITE = "w"


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


@dataclasses.dataclass
class Box:
    item: Any
    label: str = "box"


@dataclasses.dataclass(frozen=True)
class Pair:
    left: Any
    right: Any


@dataclasses.dataclass(slots=True)
class Slotted:
    a: Any


@dataclasses.dataclass
class Computed:
    base: int
    doubled: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.doubled = self.base * 2


@dataclasses.dataclass(frozen=True)
class FrozenComputed:
    base: int
    tag: str = dataclasses.field(init=False, default="unset")


@dataclasses.dataclass
class Node:
    value: int
    next: Node | None = None


class Item(BaseModel):
    name: str
    qty: int = 1
    tags: list[str] = []


class Holder(BaseModel):
    payload: Any = None
    note: str = ""


class Aliased(BaseModel):
    value: int = Field(alias="Value")


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int = 0


class WithPrivate(BaseModel):
    x: int = 0
    _secret: str = PrivateAttr(default="s")


class Tree(BaseModel):
    name: str
    children: list[Tree] = []
    parent: Tree | None = None


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True)
    v: Any = None


class Numbers(RootModel[list[int]]):
    pass


class AppError(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class PlainError(Exception):
    pass


class Plain:
    pass


class MyList(list[int]):
    pass


class Point(NamedTuple):
    x: int
    y: int


class Shadowed:
    pass


@dataclasses.dataclass
class ShadowedData:
    x: int = 0


class Trap:
    """Records any attempt to build it."""

    def __new__(cls, *args: object, **kwargs: object) -> Trap:
        SIDE_EFFECTS.append("Trap.__new__")
        return super().__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        SIDE_EFFECTS.append("Trap.__init__")


@pytest.fixture(autouse=True)
def _no_side_effects() -> Iterator[None]:
    SIDE_EFFECTS.clear()
    yield
    assert SIDE_EFFECTS == []


# -- helpers ----------------------------------------------------------------------------------


def roundtrip_all(values: list[Any]) -> list[Any]:
    """Encode with one Encoder, check both JSON libraries, decode with one Decoder."""
    encoder = Encoder()
    encoded = [encoder.encode(v, f"v{i}") for i, v in enumerate(values)]
    check_json(encoded)
    text = json.dumps(encoded)
    decoder = Decoder()
    return [decoder.decode(x) for x in json.loads(text)]


def roundtrip(value: Any) -> Any:
    return roundtrip_all([value])[0]


def check_json(tree: JSON) -> None:
    assert json.loads(json.dumps(tree, allow_nan=False)) == tree
    assert pydantic_core.from_json(pydantic_core.to_json(tree)) == tree
    assert json_depth(tree) <= MAX_JSON_DEPTH


def json_depth(tree: JSON) -> int:
    depth, todo = 0, [(tree, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, list | dict):
            depth = max(depth, level)
            todo.extend((c, level + 1) for c in (node.values() if isinstance(node, dict) else node))
    return depth


def canon(x: Any) -> str:
    """An order-independent text key for hashable values (to match set elements)."""
    t = type(x)
    if t is float:
        return f"float:{x!r}:{math.copysign(1.0, x)}"
    if t in (frozenset, set):
        return f"{t.__name__}{{{','.join(sorted(canon(e) for e in x))}}}"
    if t is tuple:
        return f"({','.join(canon(e) for e in x)})"
    if t is Pair:
        return f"Pair({canon(x.left)},{canon(x.right)})"
    if t is decimal.Decimal:
        return f"Decimal:{x}"
    return f"{t.__qualname__}:{x!r}"


_IDENTITY_TYPES = (
    list,
    dict,
    set,
    frozenset,
    tuple,
    bytearray,
    collections.deque,
    collections.OrderedDict,
    collections.defaultdict,
    collections.Counter,
    BaseModel,
    BaseException,
)


class Same:
    """Deep comparison of an original graph and its decoded copy: exact types, equal values,
    and the same sharing (a bijection between identity-bearing objects, cycles included)."""

    def __init__(self) -> None:
        self.fwd: dict[int, int] = {}
        self.back: dict[int, int] = {}
        self.keep: list[object] = []

    def check(self, a: Any, b: Any) -> None:
        assert type(a) is type(b), (a, b)
        if self._seen(a, b):
            return
        t = type(a)
        handler = _CHECKS.get(t)
        if handler is not None:
            handler(self, a, b)
        elif isinstance(a, enum.Enum):
            assert a is b
        elif dataclasses.is_dataclass(a):
            self.dataclass(a, b)
        elif isinstance(a, BaseModel):
            self.model(a, b)
        elif isinstance(a, BaseException):
            self.seq(a.args, b.args)
            self.mapping(a.__dict__, b.__dict__)
        elif hasattr(a, "__setstate__") and hasattr(a, "__next__"):
            self.check(remaining(a), remaining(b))
        else:
            raise AssertionError(f"no comparison for {t}")

    def _seen(self, a: Any, b: Any) -> bool:
        is_iterator = hasattr(a, "__next__") and hasattr(a, "__setstate__")
        if not (isinstance(a, _IDENTITY_TYPES) or dataclasses.is_dataclass(a) or is_iterator):
            return False
        if a == () or isinstance(a, enum.Enum):
            return False
        if id(a) in self.fwd:
            assert self.fwd[id(a)] == id(b), "sharing differs"
            return True
        assert id(b) not in self.back, "two originals decoded to one object"
        self.fwd[id(a)] = id(b)
        self.back[id(b)] = id(a)
        self.keep += [a, b]
        return False

    def seq(self, a: Any, b: Any) -> None:
        a, b = list(a), list(b)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            self.check(x, y)

    def mapping(self, a: Any, b: Any) -> None:
        assert len(a) == len(b)
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
            self.check(ka, kb)
            self.check(va, vb)

    def sets(self, a: Any, b: Any) -> None:
        assert sorted(map(canon, a)) == sorted(map(canon, b))

    def dataclass(self, a: Any, b: Any) -> None:
        for f in dataclasses.fields(a):
            self.check(getattr(a, f.name), getattr(b, f.name))
        self.mapping(getattr(a, "__dict__", {}), getattr(b, "__dict__", {}))

    def model(self, a: Any, b: Any) -> None:
        for name in type(a).model_fields:
            self.check(getattr(a, name), getattr(b, name))
        assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__
        self.mapping(a.__pydantic_extra__ or {}, b.__pydantic_extra__ or {})
        self.mapping(a.__pydantic_private__ or {}, b.__pydantic_private__ or {})


def remaining(it: Any) -> Any:
    """What an iterator still yields, without consuming it (ranges stay lazy)."""
    reduced = it.__reduce__()
    if len(reduced) < 3:
        return type(reduced[1][0])()
    seq, index = reduced[1][0], reduced[2]
    rest = seq[index:]
    return range(0) if type(rest) is range and not rest else rest


def _float(_: Same, a: float, b: float) -> None:
    assert math.copysign(1.0, a) == math.copysign(1.0, b)
    assert (math.isnan(a) and math.isnan(b)) or a == b


def _equal(_: Same, a: Any, b: Any) -> None:
    assert a == b


def _clock(_: Same, a: Any, b: Any) -> None:
    assert a.replace(tzinfo=None) == b.replace(tzinfo=None)
    assert a.fold == b.fold
    assert tz_key(a.tzinfo) == tz_key(b.tzinfo)


def tz_key(tz: Any) -> object:
    if isinstance(tz, zoneinfo.ZoneInfo):
        return ("zone", tz.key)
    return None if tz is None else ("fixed", tz.__getinitargs__())


def _deque(s: Same, a: Any, b: Any) -> None:
    assert a.maxlen == b.maxlen
    s.seq(a, b)


def _defaultdict(s: Same, a: Any, b: Any) -> None:
    assert a.default_factory is b.default_factory
    s.mapping(a, b)


_CHECKS: dict[type, Callable[[Same, Any, Any], None]] = {
    float: _float,
    decimal.Decimal: lambda _, a, b: _equal(_, str(a), str(b)),
    range: lambda _, a, b: _equal(_, (a.start, a.stop, a.step), (b.start, b.stop, b.step)),
    dt.datetime: _clock,
    dt.time: _clock,
    dt.timezone: lambda _, a, b: _equal(_, tz_key(a), tz_key(b)),
    zoneinfo.ZoneInfo: lambda _, a, b: _equal(_, a.key, b.key),
    list: Same.seq,
    tuple: Same.seq,
    set: Same.sets,
    frozenset: Same.sets,
    dict: Same.mapping,
    collections.OrderedDict: Same.mapping,
    collections.Counter: Same.mapping,
    collections.defaultdict: _defaultdict,
    collections.deque: _deque,
    **{t: _equal for t in (type(None), bool, int, str, bytes, bytearray, uuid.UUID)},
    **{t: _equal for t in (dt.date, dt.timedelta)},
}


def assert_same(a: Any, b: Any) -> None:
    Same().check(a, b)


# -- strategies -------------------------------------------------------------------------------

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
fixed_zones = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)),
)
named_zones = st.builds(dt.timezone, st.just(dt.timedelta(hours=5, minutes=30)), any_text)
zones = st.one_of(
    st.none(),
    st.just(dt.UTC),
    fixed_zones,
    named_zones,
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]).map(
        zoneinfo.ZoneInfo
    ),
)
enum_members = st.sampled_from([*Color, *Level, *Mode, *Perm, Perm.R | Perm.W, Perm(0)])


def _ranges() -> st.SearchStrategy[range]:
    big = st.integers(min_value=-(2**80), max_value=2**80)
    step = big.filter(lambda s: s != 0)
    return st.builds(range, big, big, step)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),
    st.sampled_from([-0.0, math.nan, -math.nan, math.inf, -math.inf]),
    any_text,
    st.binary(max_size=8),
    st.datetimes(timezones=zones),
    st.datetimes(timezones=zones).map(lambda d: d.replace(fold=1)),
    st.dates(),
    st.times(timezones=zones),
    st.timedeltas(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["-0", "1E+400", "-1.50E-7", "NaN", "-sNaN12", "Infinity"]).map(
        decimal.Decimal
    ),
    st.uuids(),
    enum_members,
    _ranges(),
    zones.filter(lambda z: z is not None),
)

hashables = st.recursive(
    scalars.filter(lambda x: not (type(x) is decimal.Decimal and x.is_snan())),
    lambda kids: st.one_of(
        st.tuples(kids, kids),
        st.frozensets(kids, max_size=3),
        st.builds(Pair, kids, kids),
    ),
    max_leaves=6,
)


def _advanced(make: Callable[[Any], Iterator[Any]], seq: Any, steps: int) -> Iterator[Any]:
    it = make(seq)
    for _ in range(steps):
        next(it, None)
    return it


def _containers(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    small = {"max_size": 4}
    return st.one_of(
        st.lists(kids, **small),
        st.lists(kids, **small).map(tuple),
        st.dictionaries(hashables, kids, **small),
        st.sets(hashables, **small),
        st.frozensets(hashables, **small),
        st.binary(max_size=4).map(bytearray),
        st.dictionaries(hashables, kids, **small).map(collections.OrderedDict),
        st.builds(collections.deque, st.lists(kids, **small), st.none() | st.integers(4, 6)),
        st.dictionaries(hashables, kids, **small).map(lambda d: collections.defaultdict(list, d)),
        st.dictionaries(hashables, kids, **small).map(lambda d: collections.defaultdict(None, d)),
        st.dictionaries(hashables, st.integers(), **small).map(collections.Counter),
        kids.map(lambda x: [x, x]),  # shared
        _user_objects(kids),
        _iterators(kids),
    )


def _user_objects(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(Box, kids, st.text(max_size=3)),
        st.builds(Pair, kids, kids),
        st.builds(Slotted, kids),
        st.builds(Computed, st.integers(-5, 5)),
        st.builds(Holder, payload=kids),
        st.builds(Item, name=st.text(max_size=3), tags=st.lists(st.text(max_size=2), max_size=2)),
        st.builds(lambda v: Aliased(Value=v), st.integers()),
        st.builds(lambda x: Loose(a=1, extra_field=x), kids),
        st.builds(FrozenModel, v=kids),
        st.builds(Numbers, st.lists(st.integers(), max_size=3)),
        st.builds(ValueError, kids, st.integers()),
        st.builds(AppError, st.integers(), st.text(max_size=3)),
        st.builds(KeyError, kids),
    )


def _iterators(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    steps = st.integers(0, 5)
    return st.one_of(
        st.builds(_advanced, st.just(iter), st.lists(kids, max_size=4), steps),
        st.builds(_advanced, st.just(iter), st.lists(kids, max_size=4).map(tuple), steps),
        st.builds(_advanced, st.just(iter), any_text, steps),
        st.builds(_advanced, st.just(iter), _ranges(), steps),
    )


# deferred: keeps Hypothesis from rendering the (huge) repr of the recursive strategy
values = st.deferred(lambda: st.recursive(scalars | hashables, _containers, max_leaves=12))


# -- round trips ------------------------------------------------------------------------------


# Each property below runs a few examples by default and many more (other ones) in its
# exhaustive twin, which runs only with --exhaustive (see tests/conftest.py).
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=3))
def test_roundtrip_property(variables: list[Any]) -> None:
    _check_roundtrip(variables)


@pytest.mark.exhaustive
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=3))
def test_roundtrip_property_exhaustively(variables: list[Any]) -> None:
    _check_roundtrip(variables)


def _check_roundtrip(variables: list[Any]) -> None:
    decoded = roundtrip_all(variables)
    checker = Same()  # one checker: sharing must hold across variables too
    for original, back in zip(variables, decoded, strict=True):
        checker.check(original, back)


@settings(max_examples=200, deadline=None)
@given(values)
def test_output_survives_both_json_libraries(value: Any) -> None:
    encoded = Encoder().encode(value, "x")
    check_json(encoded)
    via_pydantic = pydantic_core.from_json(pydantic_core.to_json(encoded))
    assert_same(value, Decoder().decode(via_pydantic))


@pytest.mark.parametrize(
    "value",
    [
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**64) - 1,
        pytest.param(10**5000, id="beyond-int-str-digit-limit"),
        -0.0,
        math.nan,
        -math.inf,
        "\ud800",
        "a\udfffb\U0001f600",
        {"\ud800": "\udc00"},
        {"$t": "obj", "$ref": 1, "$id": 2, "v": "user data, not a tag"},
        {1: "int key", None: 0, False: 1, (1, "a"): 1, frozenset({2}): 2, 2.5: 3},
        {Color.RED: 1, Level.HIGH: 2, Perm.R | Perm.X: 3},
        range(-(2**70), 2**70, 3),
        decimal.Decimal("-1.23E-400"),
        dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        dt.time(23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(minutes=-90), "\ud800")),
        collections.defaultdict(int, {"a": 1}),
        collections.deque([1, 2, 3], maxlen=3),
        ValueError(),
        OSError(2, "No such file"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        Numbers([1, 2]),
    ],
)
def test_roundtrip_examples(value: Any) -> None:
    assert_same(value, roundtrip(value))


def test_exact_types_and_exception_state() -> None:
    error = AppError(7, "disk full")
    error.add_note("while saving")
    error.retries = [1, 2]  # type: ignore[attr-defined]
    back = roundtrip(error)
    assert type(back) is AppError
    assert back.args == ("7: disk full",)
    assert back.code == 7
    assert back.retries == [1, 2]
    assert back.__notes__ == ["while saving"]
    assert back.__traceback__ is None


def test_dataclass_init_false_and_frozen() -> None:
    computed = roundtrip(Computed(4))
    assert (computed.base, computed.doubled) == (4, 8)
    frozen = FrozenComputed(1)
    object.__setattr__(frozen, "tag", "set later")
    back = roundtrip(frozen)
    assert (back.base, back.tag) == (1, "set later")
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.base = 2  # type: ignore[misc]


def test_model_aliases_extras_private_and_fields_set() -> None:
    aliased = roundtrip(Aliased(Value=3))
    assert aliased.value == 3
    loose = roundtrip(Loose(a=2, colour="red", nested=[1]))
    assert loose.__pydantic_extra__ == {"colour": "red", "nested": [1]}
    assert loose.model_fields_set == {"a", "colour", "nested"}
    private = WithPrivate(x=1)
    private._secret = "changed"
    assert roundtrip(private)._secret == "changed"
    assert roundtrip(Item(name="x")).model_fields_set == {"name"}


def test_model_fields_keep_identity_despite_validation_copies() -> None:
    item = Item(name="x", tags=["a"])
    tags = item.tags
    back_item, back_tags = roundtrip_all([item, tags])
    assert back_item.tags is back_tags
    back_tags.append("b")
    assert back_item.tags == ["a", "b"]


# -- identity and cycles ----------------------------------------------------------------------


def test_shared_list_across_encode_calls() -> None:
    shared = [1, 2]
    a, b = roundtrip_all([shared, {"k": shared, "again": shared}])
    assert b["k"] is a
    assert b["again"] is a


def test_cycles_through_list_dict_and_set_members() -> None:
    loop: list[Any] = []
    loop.append(loop)
    d: dict[str, Any] = {}
    d["self"] = d
    back_loop, back_d = roundtrip_all([loop, d])
    assert back_loop[0] is back_loop
    assert back_d["self"] is back_d


def test_cycles_through_dataclasses() -> None:
    node = Node(1)
    node.next = node
    back = roundtrip(node)
    assert back.next is back
    a, b = Node(1), Node(2)
    a.next, b.next = b, a
    back_a = roundtrip(a)
    assert back_a.next.next is back_a
    pair = Pair(left=[], right=0)
    pair.left.append(pair)
    back_pair = roundtrip(pair)
    assert back_pair.left[0] is back_pair


def test_cycles_through_models() -> None:
    root = Tree(name="root")
    child = Tree(name="child", parent=root)
    root.children.append(child)
    back = roundtrip(root)
    assert back.children[0].parent is back
    holder = Holder()
    holder.payload = holder
    again = roundtrip(holder)
    assert again.payload is again


def test_cycle_through_tuple_keeps_identity() -> None:
    t: tuple[list[Any]] = ([],)
    t[0].append(t)
    back = roundtrip(t)
    assert back[0][0] is back
    assert_same(t, back)


def test_cycle_through_exception_attribute() -> None:
    error = PlainError("x")
    error.seen = [error]  # type: ignore[attr-defined]
    back = roundtrip(error)
    assert back.seen[0] is back


def test_cycle_through_immutables_only_is_refused() -> None:
    error = PlainError()
    error.args = (error,)
    with pytest.raises(UnencodableValue) as info:
        Encoder().encode(error, "e")
    assert "cycle" in info.value.reason


def test_list_iterator_shares_its_list_and_position() -> None:
    items = [1, 2, 3, 4]
    it = iter(items)
    next(it)
    next(it)
    back_items, back_it = roundtrip_all([items, it])
    assert next(back_it) == 3
    back_items.append(5)
    assert list(back_it) == [4, 5]


@pytest.mark.parametrize(
    "seq",
    [
        *([1, 2], (1, 2), "ab", "é€", range(3), range(2**70, 2**70 + 3), range(-(2**80), 2**80)),
        range(0, 1, 2**62 + 1),  # its pickled range alone would give a longrange_iterator
        range(2**63 - 21, 2**63 - 6, 10),  # a longrange_iterator over small numbers
    ],
)
def test_iterators_resume_where_they_were(seq: Any) -> None:
    it = iter(seq)
    next(it)
    back = roundtrip(it)
    assert type(back) is type(it)
    assert list(itertools.islice(back, 5)) == list(itertools.islice(it, 5))


@pytest.mark.parametrize("view", ["keys", "values", "items"])
@pytest.mark.parametrize("taken", [0, 1, 3, 4])
def test_dict_iterators_resume_where_they_were(view: str, taken: int) -> None:
    """A dict iterator comes back native, over the same dict (shared), with the same items
    left; changing the dict's size afterwards raises Python's own RuntimeError."""
    d = {"a": 1, "b": [2], "c": 3, "d": 4}
    it = iter(d if view == "keys" else getattr(d, view)())
    expected = list(itertools.islice(iter(d if view == "keys" else getattr(d, view)()), taken, 9))
    for _ in range(taken):
        next(it)
    back_d, back_it = roundtrip_all([d, it])
    assert type(back_it) is type(it)
    got = list(back_it)
    assert got == expected
    if view == "values" and taken <= 1:
        assert any(x is back_d["b"] for x in got)  # the dict's own list, not a copy
    again = roundtrip_all([d, iter(d)])
    again[0]["z"] = 26
    with pytest.raises(RuntimeError, match="dictionary changed size during iteration"):
        next(again[1])


def test_a_dict_iterator_whose_dict_changed_size_raises_after_a_round_trip() -> None:
    d = {"a": 1, "b": 2}
    it = iter(d)
    next(it)
    del d["b"]
    back = roundtrip(it)
    with pytest.raises(RuntimeError, match="dictionary changed size during iteration"):
        next(back)


def test_set_iterators_keep_the_items_left_and_their_order() -> None:
    """A set iterator comes back yielding the very items it had left, in that order, over the
    same set; the set growing afterwards raises Python's RuntimeError."""
    s = {f"item-{n}" for n in range(20)}
    it = iter(s)
    first = [next(it) for _ in range(7)]
    back_s, back_it = roundtrip_all([s, it])
    rest = list(iter(s))[7:]
    assert back_s == s and first == list(iter(s))[:7]
    assert [next(back_it) for _ in range(3)] == rest[:3]
    _, again_it = roundtrip_all([back_s, back_it])  # a restored one saves again
    assert list(again_it) == rest[3:]
    grow_s, grow_it = roundtrip_all([s, iter(s)])
    grow_s.add("new")
    with pytest.raises(RuntimeError, match="Set changed size during iteration"):
        next(grow_it)
    with pytest.raises(RuntimeError):
        next(grow_it)  # sticky, as CPython's


@pytest.mark.parametrize("make", [lambda: iter({}), lambda: iter({}.items()), lambda: iter(set())])
def test_exhausted_container_iterators_stay_exhausted(make: Callable[[], Any]) -> None:
    it = make()
    list(it)
    assert list(roundtrip(it)) == []


@pytest.mark.parametrize(
    "node",
    [
        {"$t": "citer", "k": "nope", "$id": 0},
        {"$t": "citer", "k": "keys", "c": {"$t": "list", "v": [], "$id": 1}, "n": 0, "$id": 0},
        {"$t": "citer", "k": "keys", "c": {"$t": "dict", "v": [], "$id": 1}, "n": 5, "$id": 0},
        {"$t": "citer", "k": "set", "c": {"$t": "set", "v": [1], "$id": 1}, "$id": 0},
        {
            "$t": "citer",
            "k": "set",
            "c": {"$t": "set", "v": [1], "$id": 1},
            "r": {"$t": "list", "v": [1], "$id": 2},
            "s": 3,
            "$id": 0,
        },
    ],
)
def test_malformed_container_iterators_are_refused(node: JSON) -> None:
    with pytest.raises(DecodeError, match="citer"):
        Decoder().decode(node)


def test_enumerate_and_zip_resume_where_they_were_over_shared_iterators() -> None:
    """enumerate and zip of saveable iterators come back at their position, keeping the
    count, zip's strictness and the identity of an inner iterator used elsewhere."""
    items = ["a", "b", "c", "d"]
    inner = iter(items)
    numbered = enumerate(inner, 10)
    next(numbered)
    paired = zip(range(5), {"x": 1, "y": 2, "z": 3}.values(), strict=True)
    next(paired)
    back_inner, back_numbered, back_paired = roundtrip_all([inner, numbered, paired])
    assert next(back_numbered) == (11, "b")
    assert next(back_inner) == "c"  # the same iterator as the enumerate's
    assert list(back_numbered) == [(12, "d")]
    assert next(back_paired) == (1, 2)
    next(back_paired)
    with pytest.raises(ValueError, match="shorter"):  # strict: 5 numbers, 3 values
        next(back_paired)


@pytest.mark.parametrize(
    "node",
    [
        {"$t": "enumerate", "it": 5, "n": 0, "$id": 0},
        {"$t": "zip", "its": {"$t": "list", "v": [], "$id": 1}, "$id": 0},
        {"$t": "zip", "its": ["not an iterator"], "$id": 0},
    ],
)
def test_malformed_enumerate_and_zip_are_refused(node: JSON) -> None:
    with pytest.raises(DecodeError, match=r"enumerate|zip"):
        Decoder().decode(node)


@pytest.mark.parametrize("seq", [[1], (1,), "a", "é"])
def test_exhausted_iterators_keep_their_type(seq: Any) -> None:
    it = iter(seq)
    list(it)
    back = roundtrip(it)
    assert type(back) is type(it)
    assert list(back) == []


def test_failed_encode_leaves_no_trace() -> None:
    encoder = Encoder()
    shared = [1]
    first = encoder.encode(shared, "a")
    with pytest.raises(UnencodableValue):
        encoder.encode([shared, {"new": []}, lambda: 0], "b")
    second = encoder.encode({"new": [], "old": shared}, "c")
    decoder = Decoder()
    a, c = decoder.decode(first), decoder.decode(second)
    assert c["old"] is a
    assert c["new"] == []


# -- depth ------------------------------------------------------------------------------------


# The deepest leaf the format has: datetime > timezone > tagged (lone surrogate) name.
BOTTOM = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "\ud800"))


def _nest(depth: int, wrap: Callable[[Any], Any]) -> Any:
    value: Any = BOTTOM
    for _ in range(depth):
        value = wrap(value)
    return value


_WRAPPERS: list[tuple[Callable[[Any], Any], Callable[[Any], Any]]] = [
    (lambda v: [v], lambda w: w[0]),
    (lambda v: {"k": v}, lambda w: w["k"]),
    (lambda v: (v, 1), lambda w: w[0]),
    (lambda v: Node(0, v), lambda w: w.next),
    (lambda v: Holder(payload=v), lambda w: w.payload),
    (lambda v: PlainError(v), lambda w: w.args[0]),
    (lambda v: collections.deque([v]), lambda w: w[0]),
]


@pytest.mark.parametrize(("wrap", "unwrap"), _WRAPPERS)
def test_deep_nesting_round_trips_with_bounded_json_depth(
    wrap: Callable[[Any], Any], unwrap: Callable[[Any], Any]
) -> None:
    value = _nest(5000, wrap)
    encoded = Encoder().encode(value, "x")
    assert json_depth(encoded) <= MAX_JSON_DEPTH
    text = pydantic_core.to_json(encoded)  # it refuses ~255 levels, from_json 200
    for back in (
        Decoder().decode(pydantic_core.from_json(text)),
        Decoder().decode(json.loads(json.dumps(encoded))),
    ):
        original = value
        for _ in range(5000):
            assert type(back) is type(original)
            original, back = unwrap(original), unwrap(back)
        assert_same(BOTTOM, back)


def test_identity_reaches_into_out_of_line_nodes_of_earlier_calls() -> None:
    inner: list[Any] = []
    outer = _nest(200, lambda v: [v])
    outer_bottom = outer
    for _ in range(199):
        outer_bottom = outer_bottom[0]
    outer_bottom[0] = inner
    back_outer, back_ref = roundtrip_all([outer, [inner]])
    for _ in range(200):
        back_outer = back_outer[0]
    assert back_outer is back_ref[0]


def test_decoder_is_iterative_on_deep_inline_input() -> None:
    data: JSON = "bottom"
    for i in range(20_000):
        data = {"$t": "list", "v": [data], "$id": i}
    value = Decoder().decode(data)
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert (depth, value) == (20_000, "bottom")


def test_long_linked_list() -> None:
    head = None
    for i in range(20_000):
        head = Node(i, head)
    back = roundtrip(head)
    count = 0
    while back is not None:
        back, count = back.next, count + 1
    assert count == 20_000


# -- unencodable values -----------------------------------------------------------------------


def _function() -> None:
    pass


async def _coroutine_function() -> None:
    pass


async def _async_generator() -> Any:
    yield 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: lambda: 0, "functions cannot be saved"),
        (lambda: _function, "functions cannot be saved"),
        (lambda: len, "functions cannot be saved"),
        (lambda: [].append, "functions cannot be saved"),
        (lambda: Box(1).__repr__, "functions cannot be saved"),
        (lambda: functools.partial(print, 1), "functions cannot be saved"),
        (lambda: (i for i in []), "generator"),
        (lambda: _async_generator(), "async generator"),
        (lambda: threading.Lock(), "locks"),
        (lambda: threading.RLock(), "locks"),
        (lambda: asyncio.Lock(), "live runtime state"),
        (lambda: threading.Event(), "live runtime state"),
        (lambda: json, "modules cannot be saved"),
        (lambda: int, "classes cannot be saved"),
        (lambda: Box, "classes cannot be saved"),
        (lambda: Plain(), "arbitrary classes"),
        (lambda: object(), "sentinel"),
        (lambda: MyList([1]), "subclasses of list"),
        (lambda: {}.keys(), "dictionary views"),
        (lambda: iter(collections.OrderedDict()), "materialise"),
        (lambda: reversed([1]), "materialise"),
        (lambda: collections.defaultdict(lambda: 0), "default_factory"),
        (lambda: types.SimpleNamespace(a=1), "use a dataclass or a dict"),
        (lambda: logging.getLogger("durable-test"), "logging.getLogger(__name__)"),
        (lambda: sqlite3.connect(":memory:"), "open it again after the pause"),
        (lambda: sqlite3.connect(":memory:").cursor(), "fetch the rows"),
        (lambda: io.StringIO("x"), "getvalue()"),
        (lambda: re.match("a", "a"), "m.group"),
        (lambda: memoryview(b"x"), "bytes(view)"),
        (lambda: weakref.ref(Plain()), "weak references"),
        (lambda: queue.Queue(), "keep their items in a list"),
        (lambda: threading.Thread(), "create it again after the pause"),
        (lambda: slice(1, 2), "(start, stop, step)"),
        (lambda: collections.ChainMap({}), "dict(chain)"),
        (lambda: sys._getframe(), "frames"),
    ],
)
def test_unencodable_values_name_the_problem(make: Callable[[], Any], reason: str) -> None:
    value = make()
    with pytest.raises(UnencodableValue) as info:
        Encoder().encode({"a": [1, value]}, "x")
    assert info.value.path == "x['a'][1]"
    assert reason in info.value.reason
    assert info.value.type_name
    assert info.value.path in str(info.value)


def test_coroutine_is_refused() -> None:
    coroutine = _coroutine_function()
    try:
        with pytest.raises(UnencodableValue, match="coroutine"):
            Encoder().encode(coroutine, "c")
    finally:
        coroutine.close()


def test_open_file_and_socket(tmp_path: Any) -> None:
    with open(tmp_path / "f.txt", "w") as handle, pytest.raises(UnencodableValue) as info:
        Encoder().encode({"a": [1, handle]}, "x")
    assert (info.value.path, info.value.type_name) == ("x['a'][1]", "_io.TextIOWrapper")
    assert "open files cannot be saved" in info.value.reason
    with socket.socket() as sock, pytest.raises(UnencodableValue, match="sockets"):
        Encoder().encode(sock, "s")


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (Box(item=[lambda: 0]), "x.item[0]"),
        ({len: 1}, "x.<key <built-in function len>>"),
        ({len}, "x{<built-in function len>}"),
        ((1, (2, print)), "x[1][1]"),
        (Holder(payload={"k": print}), "x.payload['k']"),
        (ValueError(1, print), "x.args[1]"),
        (iter([0, print]), "x.<iterated sequence>[1]"),
        (collections.Counter({"a": print}), "x['a']"),
    ],
)
def test_unencodable_paths(value: Any, path: str) -> None:
    with pytest.raises(UnencodableValue) as info:
        Encoder().encode(value, "x")
    assert info.value.path == path


def test_class_defined_in_a_function_is_refused() -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    with pytest.raises(UnencodableValue, match="inside a function"):
        Encoder().encode([Local(1)], "x")


def test_shadowed_class_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ShadowedData(1)
    monkeypatch.setattr(sys.modules[MODULE], "ShadowedData", Box)
    with pytest.raises(UnencodableValue, match="does not name this class"):
        Encoder().encode(original, "x")


def test_unencodable_exception_attribute_and_model_extra() -> None:
    error = PlainError()
    error.callback = print  # type: ignore[attr-defined]
    with pytest.raises(UnencodableValue) as info:
        Encoder().encode(error, "e")
    assert info.value.path == "e.callback"
    with pytest.raises(UnencodableValue, match="name"):
        loose = Loose()
        assert loose.__pydantic_extra__ is not None
        loose.__pydantic_extra__["\ud800"] = 1
        Encoder().encode(loose, "m")


# -- hostile and malformed data ---------------------------------------------------------------


def _assert_refused(data: JSON, *words: str) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        Decoder().decode(data)
    for word in words:
        assert word in str(info.value)
    return info.value


@pytest.mark.parametrize("tag", ["dataclass", "model", "exc", "enum"])
@pytest.mark.parametrize(
    "ref", ["os:system", "builtins:eval", "builtins:exec", "subprocess:Popen", f"{MODULE}:Trap"]
)
def test_hostile_class_references_call_nothing(tag: str, ref: str) -> None:
    node: JSON = {"$t": tag, "cls": ref, "$id": 1, "v": {}, "args": [], "name": "X", "set": []}
    _assert_refused(node)


def test_class_of_the_wrong_kind_is_refused() -> None:
    _assert_refused({"$t": "dataclass", "cls": f"{MODULE}:Item", "$id": 1, "v": {}}, "dataclass")
    _assert_refused({"$t": "exc", "cls": f"{MODULE}:Box", "$id": 1, "args": []}, "exception")
    _assert_refused({"$t": "enum", "cls": f"{MODULE}:AppError", "name": "X"}, "Enum")
    _assert_refused({"$t": "model", "cls": "builtins:dict", "$id": 1, "v": {}}, "model")


def test_module_that_is_not_imported_is_not_imported() -> None:
    name = "durable_codec_test_never_imported"
    _assert_refused({"$t": "dataclass", "cls": f"{name}:X", "$id": 1, "v": {}}, name, "import")
    assert name not in sys.modules


def test_module_getattr_is_never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    lazy = types.ModuleType("durable_codec_test_lazy")

    def module_getattr(name: str) -> Any:
        SIDE_EFFECTS.append(f"__getattr__({name})")
        return Trap

    lazy.__getattr__ = module_getattr  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, lazy.__name__, lazy)
    _assert_refused({"$t": "exc", "cls": f"{lazy.__name__}:Anything", "$id": 1, "args": []})


@pytest.mark.parametrize(
    "data",
    [
        {"$t": "obj", "type": "os:system"},
        {"$ref": 5},
        {"$ref": "5"},
        {"$ref": 0, "extra": 1},
        {"$same": 0},
        {"$out": 0},
        {"$t": "list", "v": [1]},  # no $id
        {"$t": "list", "$id": 1, "v": [{"$t": "list", "$id": 1, "v": []}]},  # $id twice
        {"$t": "list", "$id": 1, "v": "nope"},
        {"$t": "dict", "$id": 1, "v": [1]},
        {"$t": "dict", "$id": 1, "v": [{"$t": "list", "$id": 2, "v": []}, 1]},  # unhashable
        {"$t": "tuple", "v": [], "$same": 99},
        {"$t": "int", "v": "0x10"},
        {"$t": "int", "v": "1_0"},
        {"$t": "float", "v": "1.5"},
        {"$t": "str", "v": "!!"},
        {"$t": "str", "v": "/w=="},  # not UTF-8
        {"$t": "bytes", "v": 3},
        {"$t": "range", "v": [0, 1, 0]},
        {"$t": "datetime", "v": "2024-01-01T00:00:00+01:00"},
        {"$t": "datetime", "v": "2024-01-01", "tz": {"$t": "zoneinfo", "v": "../../etc/passwd"}},
        {"$t": "datetime", "v": "2024-01-01", "fold": 2},
        {"$t": "timedelta", "v": [10**12, 0, 0]},
        {"$t": "timezone", "v": [1, 0, 0]},
        {"$t": "decimal", "v": "one"},
        {"$t": "uuid", "v": "{12345678-1234-5678-1234-567812345678}"},
        {"$t": "defaultdict", "$id": 1, "f": "eval", "v": []},
        {"$t": "deque", "$id": 1, "m": -1, "v": []},
        {"$t": "deque", "$id": 1, "m": 10**30, "v": []},
        {"$t": "iter", "$id": 1, "k": "list_iterator", "v": "abc", "i": 0},
        {"$t": "iter", "$id": 1, "k": "generator", "v": [], "i": 0},
        {
            "$t": "iter",
            "$id": 1,
            "k": "list_iterator",
            "v": {"$t": "list", "$id": 2, "v": []},
            "i": 2**80,
        },
        {"$t": "enum", "cls": f"{MODULE}:Color", "name": "BLUE"},
        {"$t": "enum", "cls": f"{MODULE}:Color", "flag": 1},
        {"$t": "dataclass", "cls": f"{MODULE}:Box", "$id": 1, "v": {"nope": 1}},
        {"$t": "dataclass", "cls": f"{MODULE}:Box", "$id": 1, "v": {}},  # missing init field
        {
            "$t": "dataclass",
            "cls": f"{MODULE}:Box",
            "$id": 1,
            "v": {"item": 1},
            "attrs": ["__class__", 1],
        },
        {"$t": "model", "cls": f"{MODULE}:Item", "$id": 1, "v": {"name": 5}, "set": []},
        {"$t": "model", "cls": f"{MODULE}:Item", "$id": 1, "v": {"name": "x"}, "set": [1]},
        {
            "$t": "model",
            "cls": f"{MODULE}:Item",
            "$id": 1,
            "v": {"name": "x"},
            "set": [],
            "extra": ["a", 1],
        },
        {"$t": "exc", "cls": "builtins:UnicodeDecodeError", "$id": 1, "args": [1]},
        {"$t": "exc", "cls": f"{MODULE}:AppError.<locals>.X", "$id": 1, "args": []},
        {"$t": "deep", "v": {"$out": 0}, "d": []},
        {"$t": "deep", "v": 1, "d": [{"$t": "list", "$id": 1, "v": []}]},  # unused
        {"$t": "deep", "v": [{"$out": 0}, {"$out": 0}], "d": [{"$t": "list", "$id": 1, "v": []}]},
        {"$t": "list", "$id": 1, "v": [{"$t": "deep", "v": 1, "d": []}]},
        [1, 2],
        {"no": "tag"},
    ],
)
def test_malformed_data_raises_decode_error(data: Any) -> None:
    _assert_refused(data)


def test_decode_error_says_where() -> None:
    data = {"$t": "list", "$id": 1, "v": [{"$t": "dict", "$id": 2, "v": [1, {"$ref": 9}]}]}
    error = _assert_refused(data, "$ref", "9")
    assert "list #1 > dict #2" in str(error)


def test_failed_decode_forgets_its_ids() -> None:
    decoder = Decoder()
    with pytest.raises(DecodeError):
        decoder.decode({"$t": "list", "$id": 1, "v": [{"$ref": 7}]})
    assert decoder.decode({"$t": "list", "$id": 1, "v": []}) == []


# fmt: off
_KEYS = st.sampled_from([
    "$t", "$id", "$ref", "$same", "$out", "v", "cls", "k", "i", "m", "f", "tz", "fold", "name",
    "flag", "args", "attrs", "extra", "private", "set", "d",
])
_TAGS = st.sampled_from([
    "int", "float", "str", "bytes", "bytearray", "list", "tuple", "set", "frozenset", "deque",
    "dict", "odict", "counter", "defaultdict", "range", "datetime", "date", "time", "timedelta",
    "timezone", "zoneinfo", "decimal", "uuid", "enum", "dataclass", "model", "exc", "iter", "deep",
    "obj", "list_iterator", "str_iterator", "nan", "-0.0",
])
# fmt: on
_REFS = st.sampled_from(
    [
        *(f"{MODULE}:{n}" for n in ("Box", "Pair", "Node", "Item", "Loose", "Color", "Perm")),
        *(f"{MODULE}:{n}" for n in ("Trap", "Numbers", "AppError")),
        *("builtins:ValueError", "builtins:KeyError", "os:system", "x:y", ":", "a:b.c"),
    ]
)
_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    _TAGS,
    _REFS,
    st.sampled_from(["2024-01-01", "12:00", "AAAA", "UTC", "1f", "-0.0", "nan", "list"]),
)


def _json_trees() -> st.SearchStrategy[Any]:
    def extend(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        tagged = st.builds(
            lambda tag, ident, fields: {"$t": tag, "$id": ident, **fields},
            _TAGS,
            st.integers(0, 4),
            st.dictionaries(_KEYS, kids, max_size=4),
        )
        refs = st.builds(lambda k, n: {k: n}, st.sampled_from(["$ref", "$out"]), st.integers(0, 4))
        return st.one_of(
            st.lists(kids, max_size=4), st.dictionaries(_KEYS, kids, max_size=4), tagged, refs
        )

    return st.recursive(_JSON_LEAVES, extend, max_leaves=20)


def _decode_or_refuse(decoder: Decoder, data: Any) -> None:
    with contextlib.suppress(DecodeError):
        decoder.decode(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_json_trees(), min_size=1, max_size=3))
def test_random_json_only_raises_decode_error(trees: list[Any]) -> None:
    _decode_all_or_refuse(trees)


@pytest.mark.exhaustive
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_json_trees(), min_size=1, max_size=3))
def test_random_json_only_raises_decode_error_exhaustively(trees: list[Any]) -> None:
    _decode_all_or_refuse(trees)


def _decode_all_or_refuse(trees: list[Any]) -> None:
    decoder = Decoder()
    for tree in trees:
        _decode_or_refuse(decoder, tree)


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) position in a JSON tree."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            keys: list[Any] = list(node)
        else:
            keys = list(range(len(node))) if isinstance(node, list) else []
        for key in keys:
            found.append((node, key))
            todo.append(node[key])
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.data())
def test_mutated_encodings_only_raise_decode_error(value: Any, data: st.DataObject) -> None:
    _mutate_and_decode(value, data)


@pytest.mark.exhaustive
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.data())
def test_mutated_encodings_only_raise_decode_error_exhaustively(
    value: Any, data: st.DataObject
) -> None:
    _mutate_and_decode(value, data)


def _mutate_and_decode(value: Any, data: st.DataObject) -> None:
    tree = json.loads(json.dumps(Encoder().encode(value, "x")))
    slots = _slots(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        if not slots:
            break
        node, key = data.draw(st.sampled_from(slots))
        node[key] = data.draw(_json_trees())
    _decode_or_refuse(Decoder(), tree)
