"""Closures in and around durable functions (the cases live in closure_cases.py).

* ``super()`` (and ``__class__``) in durable methods, classmethods, dataclasses and models,
  before and after a pause, calling plain and durable parent methods.
* ``functools.wraps(other)`` on a durable function: its own signature and source.
* Nested functions live at a pause: saved by reference to their definition site, refused when
  they are not the program's own, and loaded only from the program's compiled code (tampered
  snapshots raise a named error and run nothing).

The differential corpus (tests/corpus/closures.py) compares nested functions across pauses
with plain Python, shared cells included; tests/runtime/test_processes.py resumes one in a
fresh process.
"""

from __future__ import annotations

import inspect
import json
import pathlib
from typing import Any

import closure_cases as cases
import pytest
import test_checklist

from durable import (
    DurableBackend,
    IncompatibleSnapshotError,
    InMemoryStateStore,
    PauseForEventException,
    SnapshotValidationError,
    StateStore,
    UnserializableStateError,
    UnsupportedSyntaxError,
    make_durable,
)

IID = "closures-1"
load_version = test_checklist.load_version  # the fixture: versions of a module file
CASES_FILE = str(pathlib.Path(cases.__file__).resolve())
SOURCE = pathlib.Path(CASES_FILE).read_text().splitlines()


def line_of(marker: str) -> int:
    hits = [i for i, text in enumerate(SOURCE, 1) if text.endswith(f"# L:{marker}")]
    assert len(hits) == 1, marker
    return hits[0]


@pytest.fixture(autouse=True)
def _reset() -> None:
    cases.effects.clear()


async def call(prog: Any, *args: Any, store: StateStore, **kwargs: Any) -> Any:
    return await prog(*args, orchestration_backend=DurableBackend(store), instance_id=IID, **kwargs)


async def drive(prog: Any, *args: Any, store: StateStore, **kwargs: Any) -> tuple[Any, list[str]]:
    """Call until it returns, publishing each awaited event, each call on a fresh backend."""
    events: list[str] = []
    for _ in range(20):
        try:
            return await call(prog, *args, store=store, **kwargs), events
        except PauseForEventException as e:
            events.append(e.event)
            DurableBackend(store).publish_event(IID, e.event)
    raise AssertionError(events)


def tamper(store: StateStore, edit: Any) -> bytes:
    state = json.loads(store.load(IID) or b"")
    edit(state["call_stack"]["frames"][0]["locals"])
    raw = json.dumps(state).encode()
    store.save(IID, raw)
    return raw


# -- super() -----------------------------------------------------------------------------------


async def test_super_in_a_dataclass_method_before_and_after_pauses() -> None:
    """super() before a pause, `await super().durable()` (which pauses itself) and super()
    after it, `__class__` by name; the instance is saved across the pauses."""
    store = InMemoryStateStore()
    account = cases.Savings("ada", 5)
    result, events = await drive(account.deposit, 7, store=store)
    assert events == ["savings-deposit", "base-deposit"]
    assert result == ("account of ada", 19, "account of ada", "Savings", 19)
    assert cases.effects == [("base deposit", 14)]


async def test_super_in_a_classmethod() -> None:
    """A durable classmethod calls a plain and a durable classmethod of its parent."""
    result, events = await drive(cases.Savings.opened, "bob", store=InMemoryStateStore())
    assert events == ["savings-open", "base-open"]
    assert result == ("kind Savings", "Savings for bob", "kind Savings")


async def test_super_in_a_pydantic_model_method() -> None:
    result, events = await drive(cases.Counted(name="m").visit, store=InMemoryStateStore())
    assert events == ["visit"]
    assert result == ("model m", "counted model m", 2)


def test_a_method_closing_over_more_than_its_class_is_refused() -> None:
    with pytest.raises(UnsupportedSyntaxError, match=r"closure.*factor") as info:
        make_durable(cases.make_method_closure())
    assert (info.value.filename, info.value.lineno) == (CASES_FILE, line_of("method-closure"))


# -- functools.wraps(other) ------------------------------------------------------------------------


async def test_wraps_of_a_builtin_binds_the_function_itself() -> None:
    """`functools.wraps(min)`: no bare ValueError; the function's own parameters bind."""
    assert str(inspect.signature(cases.wraps_builtin)) == "(x: 'int', y: 'int' = 2) -> 'int'"
    assert await drive(cases.wraps_builtin, 4, store=InMemoryStateStore()) == (8, ["wb"])


async def test_wraps_of_another_function_binds_and_finds_its_own_code() -> None:
    store = InMemoryStateStore()
    assert list(inspect.signature(cases.wraps_other).parameters) == ["x", "scale"]
    assert await drive(cases.wraps_other, 3, scale=2, store=store) == (6, ["wo"])
    assert cases.effects == [("wraps_other", 3, 2)]
    assert cases.wraps_other.code_blocks[0].lineno == line_of("wraps-other")
    with pytest.raises(TypeError, match="positional argument"):
        await call(cases.wraps_other, 1, 2, 3, store=InMemoryStateStore())  # other's arity


def test_wraps_of_a_builtin_without_source_is_a_named_error() -> None:
    namespace: dict[str, Any] = {"functools": __import__("functools")}
    exec("@functools.wraps(min)\nasync def f(x):\n    return x\n", namespace)
    with pytest.raises(UnsupportedSyntaxError):  # NoSourceError, never a bare ValueError
        make_durable(namespace["f"])


# -- nested functions: saved, refused, loaded ------------------------------------------------------


async def test_a_self_referencing_lambda_is_rebuilt() -> None:
    """The lambda's cell holds the lambda itself: a cycle through the cell."""
    assert await drive(cases.self_referencing_lambda, 5, store=InMemoryStateStore()) == (
        120,
        ["go"],
    )


async def test_saved_format_of_a_lambda() -> None:
    store = InMemoryStateStore()
    with pytest.raises(PauseForEventException):
        await call(cases.lambda_for_tampering, [1, 3, 2], store=store)
    local = json.loads(store.load(IID) or b"")["call_stack"]["frames"][0]["locals"]
    key = local["key"]
    assert {k: key[k] for k in ("$t", "p", "i")} == {
        "$t": "fn",
        "p": "closure_cases:lambda_for_tampering",
        "i": 0,
    }
    assert key["fp"] == cases.lambda_for_tampering.fingerprint
    assert key["c"] == [{"$t": "cell", "v": 2, "$id": key["c"][0]["$id"]}]
    assert local["_dur_cells"] == {"$t": "cells", "v": ["k", {"$ref": key["c"][0]["$id"]}]}


async def test_a_lambda_over_an_unsaveable_value_names_the_path() -> None:
    store = InMemoryStateStore()
    with pytest.raises(UnserializableStateError) as info:
        await call(cases.lambda_over_lock, store=store)
    message = str(info.value)
    assert "'holds'" in message and "<closure lock>" in message, message
    assert f"line {line_of('lock-pause')}" in message, message


async def test_a_dead_lambda_over_an_unsaveable_value_costs_nothing() -> None:
    """Cells are saved only for live functions: a variable nobody live shares is not saved."""
    assert await drive(cases.dead_lambda_over_lock, store=InMemoryStateStore()) == (
        "done",
        ["go"],
    )


async def test_a_nested_function_with_attributes_is_refused() -> None:
    with pytest.raises(UnserializableStateError, match="attributes") as info:
        await call(cases.nested_def_with_attributes, store=InMemoryStateStore())
    assert f"line {line_of('attrs-pause')}" in str(info.value)


def _key(edit: Any) -> Any:
    return lambda local: edit(local["key"])


TAMPERINGS = {
    "another-program": _key(lambda key: key.update(p="os:system")),
    "a-plain-module-function": _key(lambda key: key.update(p="closure_cases:other")),
    "index-out-of-range": _key(lambda key: key.update(i=99)),
    "negative-index": _key(lambda key: key.update(i=-1)),
    "other-fingerprint": _key(lambda key: key.update(fp="0" * 32)),
    "missing-cell": _key(lambda key: key.update(c=[])),
    "cell-not-a-cell": _key(lambda key: key.update(c=[{"$t": "list", "v": [], "$id": 50}])),
    "bad-defaults": _key(lambda key: key.update(d=[1, 2, 3])),
    "frame-cells-not-cells": lambda local: local.update(
        _dur_cells={"$t": "cells", "v": ["k", {"$ref": 999}]}
    ),
    "frame-cells-replaced": lambda local: local.update(
        _dur_cells={"$t": "list", "v": [], "$id": 77}
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
async def test_a_tampered_function_reference_is_a_named_error_and_runs_nothing(kind: str) -> None:
    store = InMemoryStateStore()
    with pytest.raises(PauseForEventException):
        await call(cases.lambda_for_tampering, [1, 3, 2], store=store)
    DurableBackend(store).publish_event(IID, "go")
    raw = tamper(store, TAMPERINGS[kind])
    match = "closure cells" if kind == "frame-cells-replaced" else IID
    with pytest.raises(SnapshotValidationError, match=match):
        await call(cases.lambda_for_tampering, [1, 3, 2], store=store)
    assert cases.effects == ["started"]
    assert store.load(IID) == raw


# -- a lambda saved by other code ------------------------------------------------------------------

V1 = """
from durable import PauseForEventException, make_durable


@make_durable
async def flow(x: int) -> int:
    k = 2
    scale = lambda v: v * k  # noqa: E731
    raise PauseForEventException("go")
    return scale(x)
"""
V1_COSMETIC = V1.replace(
    "    k = 2\n", "    # a comment moves the lambda down a line\n\n    k = 2\n"
)
V2 = V1.replace("v * k", "v * k + 1")


async def test_a_lambda_resumes_under_a_cosmetic_edit(load_version: Any) -> None:
    """Comments and layout move the lambda without changing the fingerprint: it still loads."""
    store = InMemoryStateStore()
    with pytest.raises(PauseForEventException):
        await call(load_version("v1", V1).flow, 4, store=store)
    DurableBackend(store).publish_event(IID, "go")
    assert await call(load_version("v1b", V1_COSMETIC).flow, 4, store=store) == 8


async def test_a_lambda_of_changed_code_is_refused_as_an_upgrade(load_version: Any) -> None:
    """The program's fingerprint changed: the saved lambda would run other code, so the
    upgrade is refused (the lambda's body is what changed) and the state is kept."""
    store = InMemoryStateStore()
    with pytest.raises(PauseForEventException):
        await call(load_version("v1", V1).flow, 4, store=store)
    DurableBackend(store).publish_event(IID, "go")
    raw = store.load(IID)
    with pytest.raises(IncompatibleSnapshotError, match="'scale' no longer loads"):
        await call(load_version("v2", V2).flow, 4, store=store)
    assert store.load(IID) == raw
