"""Tampered snapshots: each raises a named error and runs nothing it should not.

Control-flow exceptions (``SystemExit``, ``KeyboardInterrupt``, ``CancelledError``, durable's
internal ones) never load; a class is rebuilt as a dataclass only if it really is one; deep
nesting is a `DecodeError` or `SnapshotValidationError`, never a `RecursionError` or a crash;
and `restrict_classes` limits the classes a snapshot may name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from durable import DurableBackend, PauseForEventException, make_durable
from durable._model._codec import DecodeError, Decoder, Encoder, UnencodableValue
from durable._model._codec import restrict_classes as restrict
from durable.errors import SnapshotValidationError
from durable.stores import InMemoryStateStore

MODULE = __name__
CALLS: list[str] = []


class FakeDataclass:
    """Carries the attribute names of a dataclass without being one."""

    __dataclass_fields__: dict[str, Any] = {}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        CALLS.append("FakeDataclass.__init__")


class FakeWithRealFields:
    __dataclass_fields__ = {"x": "not a Field"}  # noqa: RUF012
    __dataclass_params__ = None

    def __init__(self, **kwargs: Any) -> None:
        CALLS.append("FakeWithRealFields.__init__")


@dataclasses.dataclass
class Real:
    x: int = 0


class Allowed(Exception):
    pass


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    CALLS.clear()
    yield
    restrict(None)
    assert CALLS == []


CONTROL_FLOW = [
    "builtins:SystemExit",
    "builtins:KeyboardInterrupt",
    "builtins:GeneratorExit",
    "builtins:BaseException",
    "builtins:BaseExceptionGroup",
    "asyncio.exceptions:CancelledError",
    "durable.errors:_Suspend",
    "durable.errors:_Abort",
]


@pytest.mark.parametrize("ref", CONTROL_FLOW)
def test_a_control_flow_exception_never_loads(ref: str) -> None:
    node = {"$t": "exc", "cls": ref, "args": [0], "$id": 0}
    with pytest.raises(DecodeError, match="Exception subclass"):
        Decoder().decode(node)
    chained = {"$t": "exc", "cls": "builtins:ValueError", "args": [], "$id": 1, "cause": node}
    with pytest.raises(DecodeError, match="Exception subclass"):
        Decoder().decode(chained)


@pytest.mark.parametrize("error", [SystemExit(1), KeyboardInterrupt(), asyncio.CancelledError()])
def test_a_control_flow_exception_is_refused_when_saved(error: BaseException) -> None:
    with pytest.raises(UnencodableValue, match="control-flow"):
        Encoder().encode(error, "e")


@pytest.mark.parametrize("cls", ["FakeDataclass", "FakeWithRealFields"])
def test_a_class_that_only_looks_like_a_dataclass_is_refused(cls: str) -> None:
    node = {"$t": "dataclass", "cls": f"{MODULE}:{cls}", "v": {}, "$id": 0}
    with pytest.raises(DecodeError, match="not a dataclass"):
        Decoder().decode(node)
    with pytest.raises(UnencodableValue):
        Encoder().encode(FakeDataclass(), "v")
    CALLS.clear()


def test_deep_tuple_keys_are_refused_before_hashing() -> None:
    """A tuple nested a million deep through out-of-line nodes would crash CPython's
    recursive hash (a C stack overflow) as a set item or a dict key: refused past a bound."""
    depth = 6_000
    outs: list[Any] = [
        {"$t": "tuple", "v": [{"$out": k + 1}] if k + 1 < depth else [1], "$id": k}
        for k in range(depth)
    ]
    for root in (
        {"$t": "set", "v": [{"$out": 0}], "$id": depth},
        {"$t": "dict", "v": [{"$out": 0}, 1], "$id": depth},
        {"$t": "frozenset", "v": [{"$out": 0}]},
    ):
        data = {"$t": "deep", "v": root, "d": [dict(o) for o in outs]}
        with pytest.raises(DecodeError, match="levels deep") as info:
            Decoder().decode(data)
        assert len(str(info.value)) < 1000  # the path names the ends, not every level


def test_deep_but_unhashed_tuples_still_load() -> None:
    value: Any = 1
    for _ in range(20_000):
        value = (value,)
    back = Decoder().decode(Encoder().encode([value], "v"))[0]
    for _ in range(20_000):
        assert type(back) is tuple and len(back) == 1
        back = back[0]
    assert back == 1


def test_restrict_classes_limits_what_a_snapshot_may_name() -> None:
    encoded = Encoder().encode([Real(1), Allowed("x"), ValueError("builtin")], "v")
    restrict([Real, f"{MODULE}:Allowed"])
    real, allowed, builtin = Decoder().decode(encoded)
    assert (real, type(allowed), type(builtin)) == (Real(1), Allowed, ValueError)
    restrict([Real])
    with pytest.raises(DecodeError, match="restrict_classes"):
        Decoder().decode(encoded)
    restrict(None)
    assert Decoder().decode(encoded)[0] == Real(1)
    with pytest.raises(TypeError):
        restrict([3])  # type: ignore[list-item]


# -- through the runtime ------------------------------------------------------------------


async def _pauses(n: int) -> int:
    value = [n]
    raise PauseForEventException("go")
    return value[0]


pauses = make_durable(_pauses)


def _nest(depth: int) -> str:
    return '{"$t":"list","v":[' * depth + "1" + "]}" * depth


@pytest.mark.parametrize("depth", [150, 1_000, 100_000])
async def test_deep_json_in_a_snapshot_is_a_named_error(depth: int) -> None:
    store = InMemoryStateStore()
    with pytest.raises(PauseForEventException):
        await pauses(1, orchestration_backend=DurableBackend(store), instance_id="deep")
    data = store.read("deep").data
    assert data is not None
    text = data.decode()
    assert '"v":[1]' in text
    tampered = InMemoryStateStore()
    tampered.save("deep", text.replace('"v":[1]', f'"v":[{_nest(depth)}]', 1).encode())
    with pytest.raises(SnapshotValidationError, match="'deep'"):
        await pauses(1, orchestration_backend=DurableBackend(tampered), instance_id="deep")


async def test_a_saved_outcome_naming_a_control_flow_exception_is_refused() -> None:
    store = InMemoryStateStore()
    with pytest.raises(PauseForEventException):
        await pauses(1, orchestration_backend=DurableBackend(store), instance_id="bad")
    data = store.read("bad").data
    assert data is not None
    state = json.loads(data)

    def tampered(ref: str) -> DurableBackend:
        state["status"] = "failed"
        state["error"] = {"$t": "exc", "cls": ref, "args": [0], "$id": 0}
        store = InMemoryStateStore()
        store.save("bad", json.dumps(state).encode())
        return DurableBackend(store)

    with pytest.raises(LookupError):  # the same snapshot naming an Exception: raised again
        await pauses(1, orchestration_backend=tampered("builtins:LookupError"), instance_id="bad")
    for ref in ("builtins:SystemExit", "builtins:KeyboardInterrupt", "durable.errors:_Abort"):
        with pytest.raises(SnapshotValidationError, match=r"'bad'.*Exception subclass"):
            await pauses(1, orchestration_backend=tampered(ref), instance_id="bad")
