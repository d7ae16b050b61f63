"""The 48-item test checklist of /work/shared/research/transform.md §4, one test (or a small class
of tests) per item, each docstring starting with the item number.

The durable functions live in tests/checklist_cases.py (make_durable needs real source files);
their side effects go to ``cases.effects``. Every async test runs on asyncio and trio (anyio plugin)
and, where state is saved, on both stores. Bugs found in `durable` are strict xfails.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import inspect
import json
import pathlib
import sys
import traceback
import types
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anyio
import checklist_cases as cases
import pytest
import structlog
from structlog.testing import capture_logs

from durable import (
    DiskStateStore,
    DurableBackend,
    IncompatibleSnapshotError,
    InMemoryStateStore,
    NoSourceError,
    OrchestrationBackend,
    PauseForEventException,
    SnapshotValidationError,
    StateStore,
    StoreError,
    UnserializableStateError,
    UnsupportedSyntaxError,
    make_durable,
)

IID = "inst-1"
CASES_FILE = str(pathlib.Path(cases.__file__).resolve())
TESTS_DIR = pathlib.Path(__file__).resolve().parent
SOURCE = pathlib.Path(CASES_FILE).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of checklist_cases.py that ends with ``# L:<marker>``."""
    hits = [i for i, text in enumerate(SOURCE, 1) if text.endswith(f"# L:{marker}")]
    assert len(hits) == 1, marker
    return hits[0]


@pytest.fixture(autouse=True)
def _reset_cases() -> None:
    cases.effects.clear()
    cases.GATE.update(block=False, started=None)
    cases.HANDLES.clear()


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StateStore:
    if request.param == "memory":
        return InMemoryStateStore()
    return DiskStateStore(tmp_path / "store")


async def call(prog: Any, *args: Any, store: StateStore, iid: str = IID, **kwargs: Any) -> Any:
    """One call of `prog` with a fresh backend over `store`: nothing survives in memory."""
    return await prog(*args, orchestration_backend=DurableBackend(store), instance_id=iid, **kwargs)


async def pause_of(prog: Any, *args: Any, store: StateStore, iid: str = IID, **kw: Any) -> str:
    """Call once; it must pause. Returns the event it waits for."""
    with pytest.raises(PauseForEventException) as info:
        await call(prog, *args, store=store, iid=iid, **kw)
    return info.value.event


async def drive(
    prog: Any, *args: Any, store: StateStore, iid: str = IID, **kwargs: Any
) -> tuple[Any, list[str]]:
    """Call until it returns, publishing each awaited event; returns (result, events)."""
    events: list[str] = []
    for _ in range(50):
        try:
            return await call(prog, *args, store=store, iid=iid, **kwargs), events
        except PauseForEventException as e:
            events.append(e.event)
            DurableBackend(store).publish_event(iid, e.event)
    raise AssertionError(f"still paused after 50 calls; last events {events[-5:]}")


def publish(store: StateStore, *events: str, iid: str = IID) -> None:
    backend = DurableBackend(store)
    for event in events:
        backend.publish_event(iid, event)


def saved(store: StateStore, iid: str = IID) -> dict[str, Any]:
    raw = store.load(iid)
    assert raw is not None
    state: dict[str, Any] = json.loads(raw)
    return state


def frames(store: StateStore, iid: str = IID) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = saved(store, iid)["call_stack"]["frames"]
    return result


class FlakyBackend(OrchestrationBackend):
    """A user backend with only the three abstract methods, over a DurableBackend.

    Counts saves; the `fail_at`-th save raises `error` once instead of saving. With no
    `take_event`, calling a paused instance again counts as delivering its event.
    """

    def __init__(self, store: StateStore, fail_at: int = 0, error: Exception | None = None):
        self.inner = DurableBackend(store)
        self.fail_at, self.error = fail_at, error
        self.statuses: list[str] = []

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        return await self.inner.load_state(instance_id)

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        if len(self.statuses) + 1 == self.fail_at and self.error is not None:
            self.fail_at, error = 0, self.error
            raise error
        self.statuses.append(state["status"])
        await self.inner.save_state(instance_id, state)

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        await self.inner.wait_for_event(instance_id, event_name)


# -- sequencing and events (#1-#5) ------------------------------------------------------------


async def test_01_print_before_pause_is_not_repeated(
    store: StateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """#1: a print before a pause is not repeated on resume, and the value is returned after the event."""  # noqa: E501
    assert await pause_of(cases.greet, "Ada", store=store) == "allow"
    assert capsys.readouterr().out == "waiting to greet Ada\n"
    publish(store, "allow")
    assert await call(cases.greet, "Ada", store=store) == "hello Ada"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("prog", "args", "event", "log"),
    [
        (cases.two_pauses, ("t",), "first", [("A", "t")]),
        (cases.level1, (3,), "deep", ["level3 start"]),
    ],
    ids=["root", "three-levels-deep"],
)
async def test_02_resume_without_event_stays_paused(
    store: StateStore, prog: Any, args: tuple[Any, ...], event: str, log: list[Any]
) -> None:
    """#2: calling a paused instance whose event was not published pauses again and runs nothing."""
    assert await pause_of(prog, *args, store=store) == event
    before = store.load(IID)
    for _ in range(3):
        assert await pause_of(prog, *args, store=store) == event
    assert store.load(IID) == before
    assert cases.effects == log


class TestEarlyEvents:
    async def test_all_events_before_the_first_call(self, store: StateStore) -> None:
        """#3: events published before the instance even starts let it run straight through."""
        publish(store, "first", "second")
        assert await call(cases.two_pauses, "t", store=store) == "done t"
        assert cases.effects == [("A", "t"), ("B", "t"), ("C", "t")]

    async def test_event_for_a_nested_pause_before_the_first_call(self, store: StateStore) -> None:
        """#3: an event published before the first call is consumed by a pause three durable calls deep."""  # noqa: E501
        publish(store, "deep")
        assert await call(cases.level1, 3, store=store) == ("top", 63)
        assert cases.effects == ["level3 start", "level3 end"]

    async def test_later_event_before_its_pause(self, store: StateStore) -> None:
        """#3: an event published while the instance waits for an earlier one is kept and consumed at its own pause."""  # noqa: E501
        assert await pause_of(cases.two_pauses, "t", store=store) == "first"
        publish(store, "second")
        assert await pause_of(cases.two_pauses, "t", store=store) == "first"
        publish(store, "first")
        assert await call(cases.two_pauses, "t", store=store) == "done t"
        assert cases.effects == [("A", "t"), ("B", "t"), ("C", "t")]


async def test_04_dynamic_event_names_in_a_loop(store: StateStore) -> None:
    """#4: a pause on f"evt-{i}" in a loop waits for a distinct event per iteration."""
    assert await pause_of(cases.dynamic_events, 3, store=store) == "evt-0"
    publish(store, "evt-1")  # not the awaited one: kept for iteration 1
    assert await pause_of(cases.dynamic_events, 3, store=store) == "evt-0"
    publish(store, "evt-0")
    assert await pause_of(cases.dynamic_events, 3, store=store) == "evt-2"
    publish(store, "evt-2")
    assert await call(cases.dynamic_events, 3, store=store) == 3
    assert cases.effects == [
        ("wait", 0),
        ("got", 0),
        ("wait", 1),
        ("got", 1),
        ("wait", 2),
        ("got", 2),
    ]


class TestFinishedInstance:
    async def test_result_is_returned_again(self, store: StateStore) -> None:
        """#5: a finished instance called again (even with other arguments) returns its saved result without running."""  # noqa: E501
        assert (await drive(cases.two_pauses, "t", store=store))[0] == "done t"
        log = list(cases.effects)
        for _ in range(2):
            assert await call(cases.two_pauses, "other", store=store) == "done t"
        assert cases.effects == log

    async def test_exception_is_raised_again(self, store: StateStore) -> None:
        """#5: a failed instance called again raises its saved exception without running."""
        with pytest.raises(ValueError) as first:
            await drive(cases.fails_late, 3, store=store)
        assert first.value.args == ("late failure", 3)
        with pytest.raises(ValueError) as again:
            await call(cases.fails_late, 3, store=store)
        assert again.value.args == ("late failure", 3)
        assert cases.effects == ["before", "after"]


# -- loops (#6-#13) ---------------------------------------------------------------------------


async def test_06_statement_after_a_loop_runs(store: StateStore) -> None:
    """#6: the statement after a loop of three paused iterations runs, once."""
    assert await drive(cases.after_loop, 3, store=store) == (3, ["tick-0", "tick-1", "tick-2"])
    assert cases.effects == ["after loop"]


async def test_07_while_loop_ends(store: StateStore) -> None:
    """#7: a while loop with a pause in each of its three iterations ends."""
    assert await drive(cases.while_loop, 3, store=store) == (3, ["w-0", "w-1", "w-2"])
    assert cases.effects == ["ended"]


@pytest.mark.parametrize("items", [["a", "b", "c"], ("a", "b", "c"), "abc", range(3)], ids=repr)
async def test_08_for_loop_resumes_at_its_iteration(store: StateStore, items: Any) -> None:
    """#8: a pause at iteration i resumes at i with the loop variable restored, never re-running or skipping an item."""  # noqa: E501
    items_list = list(items)
    assert await pause_of(cases.for_resume, items, store=store) == f"at-{items_list[0]}"
    publish(store, f"at-{items_list[0]}")
    assert await pause_of(cases.for_resume, items, store=store) == f"at-{items_list[1]}"
    assert cases.effects == [
        ("before", items_list[0]),
        ("after", items_list[0]),
        ("before", items_list[1]),
    ]
    result, events = await drive(cases.for_resume, items, store=store)
    assert result == items_list
    assert events == [f"at-{x}" for x in items_list[1:]]
    assert cases.effects == [entry for x in items_list for entry in (("before", x), ("after", x))]


async def test_09_nested_loops_with_break_and_continue(store: StateStore) -> None:
    """#9: nested loops with break and continue both before and after the pause behave as plain Python."""  # noqa: E501
    result, events = await drive(cases.nested_loops, store=store)
    assert result == [(0, 1), ("end", 0), (2, 1), ("end", 2)]
    assert events == ["p-0-1", "p-0-3", "p-2-1", "p-2-3"]


class TestLoopElse:
    async def test_for_else_runs_with_a_pause_in_it(self, store: StateStore) -> None:
        """#10: for…else with pauses in the body and in the else runs the else once when no break happens."""  # noqa: E501
        assert await drive(cases.for_else, ["x", "y"], "none", store=store) == (
            "done",
            ["body-x", "body-y", "else"],
        )
        assert cases.effects == ["else start", "else end"]

    async def test_for_else_skipped_after_break(self, store: StateStore) -> None:
        """#10: for…else skips the else when the body breaks after a pause."""
        assert await drive(cases.for_else, ["x", "y"], "x", store=store) == ("done", ["body-x"])
        assert cases.effects == [("break", "x")]

    async def test_while_else_runs_with_a_pause_in_it(self, store: StateStore) -> None:
        """#10: while…else with pauses in the body and in the else runs the else once when no break happens."""  # noqa: E501
        assert await drive(cases.while_else, 2, -1, store=store) == (
            2,
            ["body-0", "body-1", "else"],
        )
        assert cases.effects == ["else start", "else end"]

    async def test_while_else_skipped_after_break(self, store: StateStore) -> None:
        """#10: while…else skips the else when the body breaks after a pause."""
        assert await drive(cases.while_else, 3, 1, store=store) == (1, ["body-0", "body-1"])
        assert cases.effects == [("break", 1)]


async def test_11_while_condition_is_not_re_evaluated(store: StateStore) -> None:
    """#11: a while condition with a side effect is evaluated once per iteration, never again on resume."""  # noqa: E501
    assert await drive(cases.counted_condition, 2, store=store) == (2, ["c-0", "c-1"])
    assert cases.effects == [("check", "cond-0"), ("check", "cond-1"), ("check", "cond-2")]


class TestIterationOrder:
    async def test_dict(self, store: StateStore) -> None:
        """#12: a for over a dict mutated after the snapshot keeps its key order across resumes."""
        d = {"b": "1", "c": "2", "a": "3", 10: "4"}
        result, events = await drive(cases.iterate_dict, d, store=store)
        assert events == ["k-b", "k-c", "k-a", "k-10"]
        assert cases.effects == ["b", "c", "a", 10]
        assert list(result.items()) == [("b", "seen"), ("c", "seen"), ("a", "seen"), (10, "seen")]

    async def test_set(self, store: StateStore) -> None:
        """#12: a for over a set visits each element once, in its order when the loop began."""
        s: set[int] = set()
        for x in (33, 1, 17, 9, 2, 25):
            s.add(x)
        order = list(s)
        result, events = await drive(cases.iterate_set, s, store=store)
        assert result == order
        assert events == [f"s-{x}" for x in order]


class TestUnsaveableIteration:
    async def test_generator_loop_fails_at_save_time(self, store: StateStore) -> None:
        """#13: a pause inside a for over a generator raises UnserializableStateError naming the line; the start snapshot stays."""  # noqa: E501
        with pytest.raises(UnserializableStateError) as info:
            await call(cases.loop_over_generator, store=store)
        message = str(info.value)
        assert "generator" in message
        assert f"line {line_of('generator-pause')}" in message
        assert "loop_over_generator" in message
        state = saved(store)
        assert state["status"] == "running"
        assert state["call_stack"]["frames"][0]["resume_point"] == 0
        assert cases.effects == []

    def test_async_for_is_refused_at_make_durable(self) -> None:
        """#13: a pause inside async for is refused by make_durable with the file and line."""
        with pytest.raises(UnsupportedSyntaxError) as info:
            make_durable(cases.pause_in_async_for)
        assert (info.value.filename, info.value.lineno) == (CASES_FILE, line_of("async-for-pause"))


# -- branches (#14-#16) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "checks"),
    [("if", ["if"]), ("elif", ["if", "elif"]), ("else", ["if", "elif"])],
)
async def test_14_each_condition_is_evaluated_once(
    store: StateStore, which: str, checks: list[str]
) -> None:
    """#14: if/elif/else conditions with side effects are each evaluated once across a pause in the taken branch."""  # noqa: E501
    assert await drive(cases.elif_chain, which, store=store) == (which, [f"in-{which}"])
    assert cases.effects == [*(("check", c) for c in checks), "after"]


@pytest.mark.parametrize(
    ("a", "b", "out", "events"),
    [
        (True, True, ["a", "b"], ["a-then", "b-then"]),
        (True, False, ["a", "not b"], ["a-then", "b-else"]),
        (False, True, ["not a", "b"], ["a-else", "b-then"]),
        (False, False, ["not a"], ["a-else"]),
    ],
)
async def test_15_nested_ifs_each_with_a_pause(
    store: StateStore, a: bool, b: bool, out: list[str], events: list[str]
) -> None:
    """#15: nested ifs with a pause in each branch keep each their own outcome across resumes."""
    assert await drive(cases.nested_ifs, a, b, store=store) == (out, events)
    assert cases.effects == [("check", "a"), ("check", "b")]


@pytest.mark.parametrize(
    ("command", "result", "events", "log"),
    [
        (("move", 3), ("forward", 3), ["forward"], [("check", "guard")]),
        (("move", -1), ("back", -1), ["back"], [("check", "guard")]),
        (("jump",), "unknown", [], []),
    ],
)
async def test_16_match_with_a_pause_and_a_side_effecting_guard(
    store: StateStore, command: Any, result: Any, events: list[str], log: list[Any]
) -> None:
    """#16: a match with a pause in a case runs its side-effecting guard once and keeps its capture."""  # noqa: E501
    assert await drive(cases.match_case, command, store=store) == (result, events)
    assert cases.effects == log


# -- exceptions (#17-#24) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail", "result", "log"),
    [
        (True, "caught", ["try start", ("caught", ("late",))]),
        (False, "clean", ["try start", "try end"]),
    ],
)
async def test_17_except_still_catches_after_resume(
    store: StateStore, fail: bool, result: str, log: list[Any]
) -> None:
    """#17: a pause inside try: after resume a later raise ValueError is still caught by the original except."""  # noqa: E501
    assert await drive(cases.pause_in_try, fail, store=store) == (result, ["in-try"])
    assert cases.effects == log


@pytest.mark.parametrize(
    "prog",
    [
        cases.around_except_exception,
        cases.around_bare_except,
        cases.around_except_base_exception,
        cases.around_child_call,
    ],
    ids=["except-Exception", "bare-except", "except-BaseException", "child-in-BaseException"],
)
async def test_18_broad_handlers_do_not_swallow_the_pause(store: StateStore, prog: Any) -> None:
    """#18: except Exception, bare except and except BaseException around a pause never catch it."""
    assert await pause_of(prog, store=store) == "go"
    assert cases.effects == []
    publish(store, "go")
    assert await call(prog, store=store) == "resumed"
    assert cases.effects == []


async def test_19_finally_runs_once_at_completion(store: StateStore) -> None:
    """#19: finally does not run when the try body pauses, and runs exactly once when it completes."""  # noqa: E501
    assert await pause_of(cases.with_finally, store=store) == "go"
    assert cases.effects == ["body"]
    publish(store, "go")
    assert await call(cases.with_finally, store=store) == "done"
    assert cases.effects == ["body", "body end", "finally"]


@pytest.mark.parametrize(
    ("kind", "error", "args"),
    [("value", ValueError, ("bad value", 42)), ("app", cases.AppError, ("app", {"k": 1}))],
)
async def test_20_bare_raise_after_pause_in_handler(
    store: StateStore, kind: str, error: type[Exception], args: tuple[Any, ...]
) -> None:
    """#20: a pause inside an except handler: a bare raise after resume re-raises the original type and args."""  # noqa: E501
    assert await pause_of(cases.reraise_after_pause, kind, store=store) == "handled"
    publish(store, "handled")
    with pytest.raises(error) as info:
        await call(cases.reraise_after_pause, kind, store=store)
    assert type(info.value) is error
    assert info.value.args == args
    name = error.__name__
    assert cases.effects == [("handling", name), ("re-raising", name)]


class TestPauseInFinally:
    async def test_pending_return(self, store: StateStore) -> None:
        """#21: a pause inside finally with a pending return returns that value after the finally completes."""  # noqa: E501
        assert await drive(cases.finally_pending_return, store=store) == ("from try", ["fin"])
        assert cases.effects == ["body", "finally end"]

    async def test_pending_exception(self, store: StateStore) -> None:
        """#21: a pause inside finally with a pending exception raises it after the finally completes."""  # noqa: E501
        with pytest.raises(KeyError) as info:
            await drive(cases.finally_pending_raise, store=store)
        assert info.value.args == ("k",)
        assert cases.effects == ["body", "finally end"]

    async def test_pending_break(self, store: StateStore) -> None:
        """#21: a pause inside finally with a pending break leaves the loop after the finally completes."""  # noqa: E501
        assert await drive(cases.finally_pending_break, store=store) == ([0], ["fin-0", "fin-1"])
        assert cases.effects == [("finally", 0), ("finally", 1)]

    async def test_pending_continue(self, store: StateStore) -> None:
        """#21: a pause inside finally with a pending continue goes on with the next iteration."""
        result = await drive(cases.finally_pending_continue, store=store)
        assert result == ([0, 2], ["fin-0", "fin-1", "fin-2"])
        assert cases.effects == [("finally", 0), ("finally", 1), ("finally", 2)]


async def test_22_return_through_pausing_finally_in_a_loop(store: StateStore) -> None:
    """#22: a return inside try/finally inside a loop, with a pause in the finally, returns after it."""  # noqa: E501
    result = await drive(cases.return_through_finally_in_loop, 5, store=store)
    assert result == (("returned", 2), ["fin-0", "fin-1", "fin-2"])
    assert cases.effects == [
        ("body", 0),
        ("finally", 0),
        ("body", 1),
        ("finally", 1),
        ("finally", 2),
    ]


@pytest.mark.parametrize(
    ("pause_first", "events"),
    [(False, ["after-catch"]), (True, ["child", "after-catch"])],
    ids=["raises-at-once", "raises-after-resume"],
)
async def test_23_child_exception_caught_by_parent(
    store: StateStore, pause_first: bool, events: list[str]
) -> None:
    """#23: an exception raised by a durable child, before or after its resume, is caught by the parent's except."""  # noqa: E501
    assert await drive(cases.catching_parent, pause_first, store=store) == ("recovered", events)
    assert cases.effects == [("caught", "child failed"), "recovering"]


class TestTryStar:
    def test_pause_inside_is_refused(self) -> None:
        """#24: a pause inside try/except* is refused with UnsupportedSyntaxError and its line."""
        with pytest.raises(UnsupportedSyntaxError) as info:
            make_durable(cases.pause_in_try_star)
        assert (info.value.filename, info.value.lineno) == (CASES_FILE, line_of("try-star-pause"))
        assert f":{line_of('try-star-pause')}:" in str(info.value)

    async def test_without_pause_inside_it_works(self, store: StateStore) -> None:
        """#24: try/except* with no pause inside works in a durable function that pauses later."""
        assert await drive(cases.try_star_then_pause, store=store) == ("ok", ["after"])
        assert cases.effects == [("value errors", 1), ("type errors", 1)]


# -- context managers (#25) -------------------------------------------------------------------


class TestWith:
    @pytest.mark.parametrize(
        ("fn", "marker"),
        [(cases.pause_in_with, "with-pause"), (cases.pause_in_async_with, "async-with-pause")],
        ids=["with", "async-with"],
    )
    def test_pause_inside_is_refused(self, fn: Any, marker: str) -> None:
        """#25: a pause inside with / async with is refused by make_durable with the file and line."""  # noqa: E501
        with pytest.raises(UnsupportedSyntaxError) as info:
            make_durable(fn)
        assert (info.value.filename, info.value.lineno) == (CASES_FILE, line_of(marker))

    async def test_child_call_inside_runs_exit_once(self, store: StateStore) -> None:
        """#25: durable child calls and plain awaits inside with / async with work and each exit runs exactly once."""  # noqa: E501
        expected = ["enter", ("child", 3), "exit", "aenter", ("child", 6), "aexit"]
        assert await pause_of(cases.child_inside_with, 3, store=store) == "after-with"
        assert cases.effects == expected
        publish(store, "after-with")
        assert await call(cases.child_inside_with, 3, store=store) == 12
        assert cases.effects == [*expected, "after pause"]

    async def test_child_pausing_inside_is_refused_at_run_time(self, store: StateStore) -> None:
        """#25: a durable child that pauses inside with raises UnsupportedSyntaxError, exit runs once and the instance is not failed."""  # noqa: E501
        for _ in range(2):
            with pytest.raises(UnsupportedSyntaxError, match="with") as info:
                await call(cases.child_pausing_inside_with, store=store)
            assert info.value.lineno == line_of("pausing-child")
        assert cases.effects == ["enter", "exit", "enter", "exit"]
        assert saved(store)["status"] == "running"


# -- awaits and expressions (#26-#29) ---------------------------------------------------------


async def test_26_finished_plain_await_is_not_rerun(store: StateStore) -> None:
    """#26: a plain awaited coroutine that finished before a later pause does not run again on resume."""  # noqa: E501
    assert await pause_of(cases.fetch_then_pause, 1, store=store) == "go"
    publish(store, "go")
    assert await call(cases.fetch_then_pause, 1, store=store) == 2
    assert cases.effects == [("fetch", 1), "after pause"]


class TestSaveFailure:
    @pytest.mark.parametrize(
        ("fail_at", "log"),
        [
            (1, ["A", "B", "C"]),  # the start checkpoint: nothing ran yet
            (2, ["A", "A", "B", "C"]),  # the pause after block A
            (3, ["A", "B", "B", "C"]),  # the pause after block B
            (4, ["A", "B", "C", "C"]),  # the result after block C
        ],
    )
    async def test_block_before_a_failed_save_reruns_once(
        self, store: StateStore, fail_at: int, log: list[str]
    ) -> None:
        """#27: when save_state fails once at a checkpoint, only the block before it re-runs, once, and the result is right (durable has no steps or idempotency keys yet, so checkpoints are tested)."""  # noqa: E501
        backend = FlakyBackend(store, fail_at, StoreError("disk full"))
        outcomes: list[str] = []
        for _ in range(10):
            try:
                result = await cases.three_blocks(orchestration_backend=backend, instance_id=IID)
                break
            except PauseForEventException as e:
                outcomes.append(e.event)
            except StoreError:
                outcomes.append("save failed")
        else:
            raise AssertionError(outcomes)
        assert result == "done"
        assert outcomes.count("save failed") == 1
        assert cases.effects == log
        assert backend.statuses[-1] == "completed"

    async def test_plain_error_from_a_user_backend_is_not_the_outcome(
        self, store: StateStore
    ) -> None:
        """#27: a plain OSError from a user backend's save_state is not recorded as the instance's result; the call after it re-runs the block once."""  # noqa: E501
        backend = FlakyBackend(store, 3, OSError("connection lost"))
        with pytest.raises(PauseForEventException):
            await cases.three_blocks(orchestration_backend=backend, instance_id=IID)
        with pytest.raises(OSError, match="connection lost"):
            await cases.three_blocks(orchestration_backend=backend, instance_id=IID)
        assert saved(store)["status"] != "failed", "the backend's error became the outcome"
        with pytest.raises(PauseForEventException):
            await cases.three_blocks(orchestration_backend=backend, instance_id=IID)
        assert await cases.three_blocks(orchestration_backend=backend, instance_id=IID) == "done"
        assert cases.effects == ["A", "B", "B", "C"]

    @pytest.mark.parametrize(
        ("prog", "fail_at", "result", "log"),
        [
            (cases.pause_inside_user_handler, 2, "approved", ["before", "before", "approved"]),
            (cases.guarded_charge, 2, "charged", ["charge"]),
            (cases.guarded_charge, 3, "charged", ["charge", "charge"]),
        ],
        ids=["pause-save", "call-entry-save", "call-return-save"],
    )
    async def test_failed_save_is_not_seen_by_user_handlers(
        self, store: StateStore, prog: Any, fail_at: int, result: str, log: list[Any]
    ) -> None:
        """#27: a failed checkpoint save inside the user's try/except Exception reaches the caller, not the user's handler, and the block re-runs once."""  # noqa: E501
        backend = FlakyBackend(store, fail_at, StoreError("disk full"))
        outcomes: list[Any] = []
        for _ in range(5):
            try:
                outcomes.append(await prog(orchestration_backend=backend, instance_id=IID))
                break
            except PauseForEventException as e:
                outcomes.append(e.event)
            except StoreError:
                outcomes.append("save failed")
        assert outcomes[-1] == result, outcomes
        assert "save failed" in outcomes
        assert cases.effects == log


EXPRESSIONS = [
    (cases.sum_with_await, (), 3, [("eval", "f"), ("child", "g")]),
    (cases.or_with_await, (False,), "from g", [("check", "a"), ("child", "g")]),
    (cases.or_with_await, (True,), True, [("check", "a")]),
    (
        cases.await_in_call_args,
        (),
        (1, 2, 3),
        [("eval", "first"), ("child", "g"), ("eval", "last")],
    ),
    (cases.await_in_fstring, (), "A-B-C", [("eval", "pre"), ("child", "g"), ("eval", "post")]),
    (cases.await_in_walrus, (), 5, [("child", "g"), ("big", 5)]),
    (cases.augmented_attribute, (), 15, ["target", ("child", "g")]),
    (cases.two_awaits_in_one_statement, (), 12, [("child", "x"), ("child", "y")]),
]


@pytest.mark.parametrize(
    ("prog", "args", "result", "log"),
    EXPRESSIONS,
    ids=["plus", "or-false", "or-true", "call-args", "f-string", "walrus", "aug-attr", "two"],
)
async def test_28_awaits_inside_expressions(
    store: StateStore, prog: Any, args: tuple[Any, ...], result: Any, log: list[Any]
) -> None:
    """#28: awaits of pausing durable children inside expressions keep Python's evaluation order and run each part once."""  # noqa: E501
    events = [f"child-{e[1]}" for e in log if isinstance(e, tuple) and e[0] == "child"]
    assert await drive(prog, *args, store=store) == (result, events)
    assert cases.effects == log


@pytest.mark.parametrize(
    ("prog", "args", "child", "result", "log"),
    [
        (cases.attribute_call, (), cases.slow_value, 1, ["before", ("child", "attr"), "after"]),
        (cases.method_call, (cases.Wallet("ada", 10),), cases.Wallet.add, 15, ["before", "after"]),
        (
            cases.call_result_call,
            (),
            cases.slow_value,
            2,
            ["before", "pick", ("child", "made"), "after"],
        ),
    ],
    ids=["await-obj.attr()", "await-obj.method()", "await-make()()"],
)
async def test_29_attribute_and_call_result_callees(
    store: StateStore, prog: Any, args: tuple[Any, ...], child: Any, result: Any, log: list[Any]
) -> None:
    """#29: await obj.m() and await make()() reach a durable child as nested durable calls that pause and resume."""  # noqa: E501
    args = copy.deepcopy(args)  # the first run mutates a wallet in place, as Python would
    await pause_of(prog, *args, store=store)
    assert [f["function"] for f in frames(store)] == [prog.name, child.name]
    assert (await drive(prog, *args, store=store))[0] == result
    assert cases.effects == log


# -- nested calls (#30-#32) -------------------------------------------------------------------


async def test_30_three_levels_of_durable_calls(store: StateStore) -> None:
    """#30: a pause three durable calls deep raises the pause (never returns None) and return values propagate."""  # noqa: E501
    with pytest.raises(PauseForEventException) as info:
        await call(cases.level1, 3, store=store)
    assert info.value.event == "deep"
    names = [cases.level1.name, cases.level2.name, cases.level3.name]
    assert [f["function"] for f in frames(store)] == names
    publish(store, "deep")
    assert await call(cases.level1, 3, store=store) == ("top", 63)
    assert cases.effects == ["level3 start", "level3 end"]


async def test_31_recursive_durable_function(store: StateStore) -> None:
    """#31: a recursive durable function keeps one frame per call, each with its own locals."""
    assert await pause_of(cases.countdown, 3, store=store) == "bottom"
    stack = frames(store)
    assert [f["function"] for f in stack] == [cases.countdown.name] * 4
    assert [f["locals"].get("n") for f in stack] == [3, 2, 1, None]
    result, events = await drive(cases.countdown, 3, store=store)
    assert result == [3, 2, 1, 0]
    assert events == ["bottom", "up-1", "up-2", "up-3"]


async def test_32_concurrent_instances_share_nothing(store: StateStore) -> None:
    """#32: two instances of one program running at once under anyio share no state."""
    backend = DurableBackend(store)
    results: dict[str, Any] = {}

    async def run(tag: str, n: int) -> None:
        try:
            results[tag] = await cases.accumulate(
                tag, n, orchestration_backend=backend, instance_id=tag
            )
        except PauseForEventException as e:
            results[tag] = e.event

    for _ in range(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "a", 3)
            tg.start_soon(run, "b", 5)
        if results == {"a": "more", "b": "more"}:
            assert frames(store, "a")[0]["locals"]["total"] == 3
            assert frames(store, "b")[0]["locals"]["total"] == 10
            backend.publish_event("a", "more")
            backend.publish_event("b", "more")
    assert results == {"a": ("a", 303), "b": ("b", 510)}
    assert sorted(cases.effects) == [*(("a", i) for i in range(3)), *(("b", i) for i in range(5))]


# -- scopes and names (#33-#38) ---------------------------------------------------------------


class TestMaybeUnbound:
    async def test_bound(self, store: StateStore) -> None:
        """#33: a variable bound on the taken branch before a pause is restored after it."""
        assert await drive(cases.read_maybe_bound, True, store=store) == ("bound", ["go"])

    async def test_unbound(self, store: StateStore) -> None:
        """#33: a variable left unbound by the branch before a pause still raises UnboundLocalError after it."""  # noqa: E501
        assert await pause_of(cases.read_maybe_bound, False, store=store) == "go"
        assert "x" not in frames(store)[0]["locals"]
        with pytest.raises(UnboundLocalError):
            await drive(cases.read_maybe_bound, False, store=store)


@pytest.mark.parametrize(("flag", "result"), [(True, ("deleted", 3)), (False, [1, 2, 3])])
async def test_34_deleted_variable_is_not_restored(
    store: StateStore, flag: bool, result: Any
) -> None:
    """#34: a variable deleted before a pause is neither saved nor restored, so reading it raises UnboundLocalError."""  # noqa: E501
    assert await pause_of(cases.deleted_before_pause, flag, store=store) == "go"
    assert ("x" in frames(store)[0]["locals"]) is not flag
    assert (await drive(cases.deleted_before_pause, flag, store=store))[0] == result


class TestGeneratedNames:
    async def test_user_names_that_look_generated(self, store: StateStore) -> None:
        """#35: user variables named checkpoint, call_stack, __ip, frame or resume survive a pause untouched."""  # noqa: E501
        result, _ = await drive(cases.generated_looking_names, "cp", ["x"], store=store)
        assert result == (
            "cp",
            ["x"],
            8,
            "frame",
            "resume",
            "live",
            "suspending",
            "pause",
            "state",
            "point",
            "dur",
        )

    def test_reserved_prefix_is_refused(self) -> None:
        """#35: a user name with the generated-name prefix is refused with its line."""
        with pytest.raises(UnsupportedSyntaxError, match="_dur_ip") as info:
            make_durable(cases.uses_reserved_prefix)
        assert info.value.lineno == line_of("reserved-prefix")


class TestGlobalsAndClosures:
    async def test_global_is_module_state(self, store: StateStore) -> None:
        """#36: a `global` is read and written in the module, live, and never saved in the snapshot."""  # noqa: E501
        cases.COUNTER = 0
        assert await pause_of(cases.bump_global, store=store) == "go"
        assert cases.COUNTER == 1
        assert frames(store)[0]["locals"] == {}
        cases.COUNTER = 100
        publish(store, "go")
        assert await call(cases.bump_global, store=store) == 110
        assert cases.COUNTER == 110

    @pytest.mark.parametrize(
        ("factory", "marker"),
        [(cases.make_closure, "closure-def"), (cases.make_nonlocal, "nonlocal-def")],
        ids=["closure", "nonlocal"],
    )
    def test_closure_is_refused(self, factory: Any, marker: str) -> None:
        """#36: a durable closure (with or without nonlocal) is refused with UnsupportedSyntaxError naming "closure" and its line."""  # noqa: E501
        with pytest.raises(UnsupportedSyntaxError, match="closure") as info:
            make_durable(factory())
        assert (info.value.filename, info.value.lineno) == (CASES_FILE, line_of(marker))


class TestScopes:
    async def test_comprehension_variable_shadows_a_local(self, store: StateStore) -> None:
        """#37: a comprehension variable that shadows a local leaves the local's value across a pause."""  # noqa: E501
        assert await drive(cases.comprehension_shadow, store=store) == (
            ("outer", [0, 1, 4, 9]),
            ["go"],
        )

    async def test_lambda_captures_loop_variable(self, store: StateStore) -> None:
        """#37: a lambda made after a resume captures the restored loop variable of its turn."""
        result = await drive(cases.lambda_captures_loop_var, store=store)
        assert result == ([0, 10, 20], ["i-0", "i-1", "i-2"])


@pytest.mark.parametrize(
    ("prog", "marker", "type_name"),
    [
        (cases.live_lambda, "lambda-pause", "function"),
        (cases.live_generator, "generator-live-pause", "generator"),
        (cases.live_file, "file-pause", "TextIOWrapper"),
    ],
    ids=["lambda", "generator", "open-file"],
)
async def test_38_unsaveable_live_value_names_variable_and_point(
    store: StateStore, tmp_path: pathlib.Path, prog: Any, marker: str, type_name: str
) -> None:
    """#38: a live lambda, generator or open file at a pause raises UnserializableStateError naming the variable, type and line, keeping the last snapshot."""  # noqa: E501
    path = tmp_path / "data.txt"
    path.write_text("hi")
    with open(path) as handle:
        cases.HANDLES.append(handle)
        with pytest.raises(UnserializableStateError) as info:
            await call(prog, store=store)
    message = str(info.value)
    assert "'f'" in message, message
    assert type_name in message, message
    assert f"line {line_of(marker)}" in message, message
    assert prog.__name__ in message, message
    state = saved(store)
    assert (state["status"], state["seq"]) == ("running", 1)


async def test_38_save_error_is_not_swallowed_by_user_handler(store: StateStore) -> None:
    """#38: an unsaveable live value at a pause inside the user's try/except Exception still raises UnserializableStateError to the caller."""  # noqa: E501
    try:
        outcome: Any = await call(cases.unsaveable_inside_user_handler, store=store)
    except UnserializableStateError as e:
        outcome = e
    assert isinstance(outcome, UnserializableStateError), outcome
    assert cases.effects == []
    assert saved(store)["status"] == "running"


# -- signatures and sources (#39-#41) ---------------------------------------------------------


class TestSignatures:
    @pytest.mark.parametrize(
        ("args", "kwargs", "result"),
        [
            ((1,), {"d": 4}, (1, 2, 3, (), 4, 5, {})),
            (
                (1, 20, 30, 40, 50),
                {"d": 4, "e": 6, "z": 26},
                (1, 20, 30, (40, 50), 4, 6, {"z": 26}),
            ),
        ],
        ids=["defaults", "everything"],
    )
    async def test_every_kind_of_parameter(
        self, store: StateStore, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
    ) -> None:
        """#39: positional-only, default, keyword-only, *args and **kwargs parameters survive a pause."""  # noqa: E501
        assert await drive(cases.all_params, *args, store=store, **kwargs) == (result, ["go"])

    def test_signature_is_kept(self) -> None:
        """#39: the durable program keeps the function's signature, name and docstring."""
        plain = cases.all_params.__wrapped__
        assert inspect.signature(cases.all_params) == inspect.signature(plain)
        assert cases.deposit.__doc__ == cases.deposit.__wrapped__.__doc__
        assert cases.all_params.__name__ == "all_params"

    async def test_self_like_data_in_a_module_function(self, store: StateStore) -> None:
        """#39: a module-level durable function taking a `self`-like dataclass saves and mutates it like a method."""  # noqa: E501
        result, _ = await drive(cases.deposit, cases.Account("ada", 10), 5, store=store)
        assert result == cases.Account("ada", 15)

    async def test_method(self, store: StateStore) -> None:
        """#39: a @make_durable method called as wallet.add(...) binds, saves self and resumes."""
        wallet = cases.Wallet("ada", 10)
        kwargs = {"orchestration_backend": DurableBackend(store), "instance_id": IID}
        with pytest.raises(PauseForEventException):
            await wallet.add(5, **kwargs)
        assert frames(store)[0]["locals"]["self"] is not None
        publish(store, "confirm")
        assert await wallet.add(5, **kwargs) == 15

    async def test_staticmethod(self, store: StateStore) -> None:
        """#39: a @staticmethod stacked on @make_durable is called on its class and resumes."""
        assert await drive(cases.Wallet.shout, "x", store=store) == ("X", ["go"])

    async def test_classmethod(self, store: StateStore) -> None:
        """#39: a @classmethod stacked on @make_durable that uses cls after a pause resumes."""
        result, _ = await drive(cases.Wallet.open, "bo", store=store)
        assert result == cases.Wallet("bo")


@pytest.mark.parametrize("filename", ["<stdin>", "<string>", "/nonexistent/module.py"])
def test_40_no_source_is_a_clear_error(filename: str) -> None:
    """#40: a function without source (REPL, exec, a missing file) gives NoSourceError, an UnsupportedSyntaxError."""  # noqa: E501
    namespace: dict[str, Any] = {}
    exec(compile("async def f():\n    return 1\n", filename, "exec"), namespace)
    with pytest.raises(NoSourceError, match="source") as info:
        make_durable(namespace["f"])
    assert isinstance(info.value, UnsupportedSyntaxError)
    assert info.value.filename == filename


async def test_41_traceback_points_at_user_file_and_line(store: StateStore) -> None:
    """#41: an error raised after a resume has traceback frames at the user's file and lines of both durable frames."""  # noqa: E501
    with pytest.raises(ZeroDivisionError) as info:
        await drive(cases.parent_of_divide, 0, store=store)
    user = [
        (f.lineno, f.name)
        for f in traceback.extract_tb(info.value.__traceback__)
        if f.filename == CASES_FILE
    ]
    assert (line_of("divide-call"), "parent_of_divide") in user
    assert user[-1] == (line_of("divide"), "divide_after_resume")


# -- snapshots and versions (#42-#46) ---------------------------------------------------------

SUBPROCESS = """
import json, sys
import anyio
import checklist_cases as cases
from durable import DiskStateStore, DurableBackend, PauseForEventException

async def main():
    backend = DurableBackend(DiskStateStore(sys.argv[2]))
    try:
        r = await cases.order_flow("pen", 2, orchestration_backend=backend, instance_id=sys.argv[3])
        out = {"result": repr(r)}
    except PauseForEventException as e:
        out = {"paused": e.event}
    out["log"] = cases.effects
    print(json.dumps(out))

anyio.run(main, backend=sys.argv[1])
"""


async def test_42_round_trip_through_fresh_processes(
    tmp_path: pathlib.Path, anyio_backend_name: str
) -> None:
    """#42: an instance started, resumed and answered in separate fresh processes over a DiskStateStore behaves as one run."""  # noqa: E501
    folder = tmp_path / "store"

    async def in_fresh_process() -> dict[str, Any]:
        argv = [sys.executable, "-c", SUBPROCESS, anyio_backend_name, str(folder), IID]
        done = await anyio.run_process(argv, cwd=TESTS_DIR, check=False)
        assert done.returncode == 0, done.stderr.decode()
        out: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
        return out

    store = DiskStateStore(folder)
    assert await in_fresh_process() == {"paused": "paid", "log": [["ordered", "pen"]]}
    publish(store, "paid")
    assert await in_fresh_process() == {"paused": "shipped", "log": [["paid", "19.98"]]}
    publish(store, "shipped")
    result = await call(cases.order_flow, "pen", 2, store=store)
    assert result == {"item": "pen", "total": Decimal("19.98")}
    assert cases.effects == ["shipped"]
    assert await in_fresh_process() == {"result": repr(result), "log": []}


async def test_43_dead_large_value_is_not_stored(store: StateStore) -> None:
    """#43: a large list live at one pause is saved there but not at a later pause where it is dead."""  # noqa: E501
    n = 100_000
    assert await pause_of(cases.shrinking_state, n, store=store) == "first"
    assert len(store.load(IID) or b"") > n  # live: saved
    publish(store, "first")
    assert await pause_of(cases.shrinking_state, n, store=store) == "second"
    assert len(store.load(IID) or b"") < 2_000  # dead: gone
    assert frames(store)[0]["locals"] == {"total": sum(range(n))}
    publish(store, "second")
    assert await call(cases.shrinking_state, n, store=store) == sum(range(n))


def _set_first_local(raw: bytes, node: Any) -> bytes:
    state = json.loads(raw)
    state["call_stack"]["frames"][0]["locals"]["tag"] = node
    return json.dumps(state).encode()


CORRUPTIONS = {
    "not-json": (lambda raw: raw[: len(raw) // 2], SnapshotValidationError),
    "missing-fields": (lambda raw: b'{"format_version": 1}', SnapshotValidationError),
    "wrong-type": (
        lambda raw: json.dumps({**json.loads(raw), "seq": "many"}).encode(),
        SnapshotValidationError,
    ),
    "old-format": (
        lambda raw: json.dumps({**json.loads(raw), "format_version": 0}).encode(),
        IncompatibleSnapshotError,
    ),
    "tag-naming-a-module": (
        lambda raw: _set_first_local(raw, {"$t": "exc", "cls": "antigravity:geohash", "args": []}),
        SnapshotValidationError,
    ),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
async def test_44_corrupt_or_old_snapshot_gives_typed_error(store: StateStore, kind: str) -> None:
    """#44: a corrupt or old-format snapshot raises a typed error, runs no code, imports nothing and stays as it was."""  # noqa: E501
    corrupt, error = CORRUPTIONS[kind]
    assert await pause_of(cases.two_pauses, "t", store=store) == "first"
    publish(store, "first")
    bad = corrupt(store.load(IID) or b"")
    store.save(IID, bad)
    for _ in range(2):
        with pytest.raises(error, match=IID):
            await call(cases.two_pauses, "t", store=store)
    assert store.load(IID) == bad
    assert cases.effects == [("A", "t")]
    assert "antigravity" not in sys.modules


EDITED = "checklist_edited"  # the module name every version of the edited file is loaded under
V1 = """
from durable import PauseForEventException, make_durable
from checklist_cases import log


@make_durable
async def flow(x: int) -> int:
    log(("start", x))
    raise PauseForEventException("go")
    log(("end", x))
    return x + 1
"""
V1_COSMETIC = '''"""Version 1 again: only comments, blank lines, quotes and a docstring changed."""

from durable import PauseForEventException, make_durable
from checklist_cases import log

# the function moved down the file


@make_durable
async def flow(x: int) -> int:
    """Now with a docstring."""
    log(("start", x))  # a trailing comment

    raise PauseForEventException('go')
    log(
        ("end", x)
    )
    return (x + 1)
'''
V2_NEW_LIVE = V1.replace(
    '    raise PauseForEventException("go")\n',
    '    y = x * 2\n    raise PauseForEventException("go")\n    log(("y", y))\n',
)
V2_NO_POINT = V1.replace('    raise PauseForEventException("go")\n', "")
V2_AFTER_POINT = V1.replace("    return x + 1\n", '    log("audited")\n    return x + 1\n')


@contextlib.contextmanager
def structlog_events() -> Iterator[list[dict[str, Any]]]:
    """structlog's capture_logs, leaving structlog unconfigured again if it was before."""
    configured = structlog.is_configured()
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        if not configured:
            structlog.reset_defaults()


@pytest.fixture
def load_version(tmp_path: pathlib.Path) -> Any:
    """Loads a version of a module file under the name EDITED, as after a code deployment."""

    def load(tag: str, source: str) -> types.ModuleType:
        path = tmp_path / tag / f"{EDITED}.py"
        path.parent.mkdir()
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(EDITED, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[EDITED] = module
        spec.loader.exec_module(module)
        return module

    yield load
    sys.modules.pop(EDITED, None)


class TestCodeEdits:
    async def test_cosmetic_edit_resumes(self, store: StateStore, load_version: Any) -> None:
        """#45: an instance paused by one version resumes under an edit of only comments, layout and docstring."""  # noqa: E501
        v1 = load_version("v1", V1)
        assert await pause_of(v1.flow, 4, store=store) == "go"
        publish(store, "go")
        v1b = load_version("v1b", V1_COSMETIC)
        assert v1b.flow.fingerprint == v1.flow.fingerprint
        assert await call(v1b.flow, 4, store=store) == 5
        assert cases.effects == [("start", 4), ("end", 4)]

    @pytest.mark.parametrize(
        "source", [V2_NEW_LIVE, V2_NO_POINT], ids=["new-live-variable", "point-removed"]
    )
    async def test_incompatible_edit_is_refused(
        self, store: StateStore, load_version: Any, source: str
    ) -> None:
        """#45: an edit that adds a live variable at the point or removes it raises IncompatibleSnapshotError and leaves the state resumable by the old code."""  # noqa: E501
        v1 = load_version("v1", V1)
        assert await pause_of(v1.flow, 4, store=store) == "go"
        publish(store, "go")
        before = store.load(IID)
        v2 = load_version("v2", source)
        with pytest.raises(IncompatibleSnapshotError, match=IID):
            await call(v2.flow, 4, store=store)
        assert store.load(IID) == before
        assert cases.effects == [("start", 4)]
        back = load_version("v1-again", V1)
        assert await call(back.flow, 4, store=store) == 5
        assert cases.effects == [("start", 4), ("end", 4)]

    async def test_edit_after_the_point_resumes_with_a_warning(
        self, store: StateStore, load_version: Any
    ) -> None:
        """#45: an edit after the point, with the same point id and live variables, resumes with a warning."""  # noqa: E501
        v1 = load_version("v1", V1)
        assert await pause_of(v1.flow, 4, store=store) == "go"
        publish(store, "go")
        v2 = load_version("v2", V2_AFTER_POINT)
        with structlog_events() as logs:
            assert await call(v2.flow, 4, store=store) == 5
        assert cases.effects == [("start", 4), ("end", 4), "audited"]
        assert any(entry["log_level"] == "warning" for entry in logs), logs


async def test_46_child_defined_later_in_the_module(store: StateStore) -> None:
    """#46: a durable child and a global defined after make_durable of their caller are found at call time."""  # noqa: E501
    assert await pause_of(cases.calls_later_child, 2, store=store) == "later"
    publish(store, "later")
    assert await call(cases.calls_later_child, 2, store=store) == 12


# -- cancellation and performance (#47-#48) ---------------------------------------------------


@pytest.mark.parametrize("how", ["deadline", "cancel-scope"])
@pytest.mark.parametrize("nested", [False, True], ids=["root", "nested"])
async def test_47_cancellation_is_not_a_result_or_a_pause(
    store: StateStore, how: str, nested: bool
) -> None:
    """#47: cancelling a durable function while it awaits a plain coroutine propagates, records nothing and the next call continues from the last checkpoint."""  # noqa: E501
    prog = cases.parent_of_slow if nested else cases.waits_on_slow
    assert await pause_of(prog, store=store) == "go"
    publish(store, "go")
    before = store.load(IID)
    cases.GATE.update(block=True, started=anyio.Event())
    if how == "deadline":
        with anyio.move_on_after(0.5) as scope:
            await call(prog, store=store)
    else:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: call(prog, store=store))
                await cases.GATE["started"].wait()
                scope.cancel()
    assert scope.cancelled_caught
    assert store.load(IID) == before
    cases.GATE.update(block=False, started=None)
    assert await call(prog, store=store) == (8 if nested else 7)
    body = ["a", "b", "slow start", "b", "slow start", "slow end", ("c", 7)]
    assert cases.effects == (["parent", *body, "parent end"] if nested else body)


class TestNoGuardsInHotLoops:
    def test_loop_without_pause_has_no_resume_points(self) -> None:
        """#48: a durable function whose loop holds no pause has only block 0: no per-iteration guards."""  # noqa: E501
        blocks = cases.hot_loop.code_blocks
        assert [(b.id, b.kind, b.live) for b in blocks] == [(0, "start", ("n",))]

    def test_pause_after_a_loop_adds_no_point_inside_it(self) -> None:
        """#48: a pause after a loop adds one resume point, after the loop, and none inside it."""
        blocks = cases.loop_then_pause.code_blocks
        assert [(b.id, b.kind) for b in blocks] == [(0, "start"), (1, "pause")]
        assert (blocks[1].lineno, blocks[1].live) == (line_of("after-loop-pause"), ("total",))

    async def test_loop_saves_nothing_per_iteration(self, store: StateStore) -> None:
        """#48: running a 10,000-iteration loop without a pause saves only the start and the result."""  # noqa: E501
        backend = FlakyBackend(store)
        result = await cases.hot_loop(10_000, orchestration_backend=backend, instance_id=IID)
        assert result == sum(i * i for i in range(10_000) if i % 3)
        assert backend.statuses == ["running", "completed"]
