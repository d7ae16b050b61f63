"""The comparator shared by the property tests and the kept regressions.

Oracle (as in tests/test_differential.py): a plain copy of the program, built from its source
with each ``raise PauseForEventException(e)`` statement replaced by ``_oracle_pause(e)``, which
evaluates and records ``e`` and goes on. It runs in a shallow copy of the program module's
namespace in which every durable child is rebound to the child's plain copy, so `LOG` is shared.

Durable run: call the program; on `PauseForEventException` publish that event and call again,
over the same store, until it returns or raises. A `Plan` says how: which store, whether each
call (and publish) gets a fresh `DurableBackend` or reuses one, whether every pause is first
called again without its event (it must pause again and run nothing), whether a second
instance gets all its events published before its first call (it must run straight through),
whether the module is imported again and made durable again before each call (as a new
process would), and whether another instance waits at its first pause while this one runs
(instances share nothing; events reach only their own instance). A finished instance is
always called once more: it must return or raise the same outcome and run nothing.

Compared (`Run`): the return value, or the exception's type and args; the side-effect log,
entry by entry; and the events paused for, in order.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import itertools
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

from durable import (
    DiskStateStore,
    DurableBackend,
    DurableProgram,
    InMemoryStateStore,
    OrchestrationBackend,
    PauseForEventException,
    make_durable,
)

from . import LOG, children, reset

MAX_CALLS = 200  # far more pauses than any generated program makes
CALL_TIMEOUT = 30  # seconds; `tick` catches synchronous endless loops, this the rest

_PAUSES: list[str] = []  # events the plain copies paused for
_instances = itertools.count(1)


# -- the oracle ------------------------------------------------------------------------------


class _PausesToRecords(ast.NodeTransformer):
    """``raise PauseForEventException(e)`` -> ``_oracle_pause(e)``."""

    def visit_Raise(self, node: ast.Raise) -> ast.stmt:
        exc = node.exc
        if (
            isinstance(exc, ast.Call)
            and isinstance(exc.func, ast.Name)
            and exc.func.id == "PauseForEventException"
        ):
            call = ast.Call(ast.Name("_oracle_pause", ast.Load()), exc.args, exc.keywords)
            return ast.copy_location(ast.Expr(call), node)
        return node


def plain_copy(fn: Any, namespace: dict[str, Any]) -> Any:
    """Exec `fn`'s source, undecorated and with pauses made records, into `namespace`."""
    tree = ast.parse(inspect.getsource(fn))
    tree.body[0].decorator_list = []  # type: ignore[attr-defined]
    tree = ast.fix_missing_locations(_PausesToRecords().visit(tree))
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)
    exec(compile(tree, fn.__code__.co_filename, "exec"), namespace)
    return namespace[fn.__name__]


def _plain_children() -> tuple[dict[int, Any], dict[str, Any]]:
    """id(durable child) -> its plain copy; and the plain copies of the plain coroutines.

    Children may call each other, and plain coroutines may call durable children inline, so
    every ``async def`` of the module is copied into one namespace whose durable names are
    then rebound to their plain copies.
    """
    namespace = {**vars(children), "_oracle_pause": _PAUSES.append}
    plain_of: dict[int, Any] = {}
    coroutines: dict[str, Any] = {}
    for name, obj in vars(children).items():
        if isinstance(obj, DurableProgram):
            plain_of[id(obj)] = plain_copy(obj.__wrapped__, namespace)
        elif inspect.iscoroutinefunction(obj) and obj.__module__ == children.__name__:
            coroutines[name] = plain_copy(obj, namespace)
    _rebind(namespace, plain_of)
    return plain_of, coroutines


def _rebind(namespace: dict[str, Any], plain_of: dict[int, Any]) -> None:
    for name, obj in namespace.items():
        if isinstance(obj, DurableProgram):
            namespace[name] = plain_of[id(obj)]


_PLAIN_CHILDREN, _PLAIN_COROUTINES = _plain_children()


@dataclass(frozen=True)
class Subject:
    """A program module's ``program``: its plain copy and its durable version."""

    name: str
    plain: Any
    durable: DurableProgram[[], Any] | None  # None if make_durable refused it:
    refusal: Exception | None = None  # then comparing fails with this
    module: ModuleType | None = None

    def remake(self) -> DurableProgram[[], Any]:
        """Import the module again (same name, same file) and make its program durable again:
        what a new process would do before resuming."""
        assert self.module is not None and self.module.__file__ is not None
        module = load_module(Path(self.module.__file__), self.module.__name__)
        return make_durable(module.program)


def subject_of(module: ModuleType) -> Subject:
    fn = module.program
    namespace = {**vars(module), "_oracle_pause": _PAUSES.append}
    _rebind(namespace, _PLAIN_CHILDREN)
    for name, obj in namespace.items():
        if getattr(obj, "__module__", None) == children.__name__ and name in _PLAIN_COROUTINES:
            namespace[name] = _PLAIN_COROUTINES[name]
    plain = plain_copy(fn, namespace)
    try:
        return Subject(module.__name__, plain, make_durable(fn), module=module)
    except Exception as e:  # a refusal, or a crash of make_durable
        return Subject(module.__name__, plain, None, e, module=module)


def load_module(path: Path, name: str) -> ModuleType:
    """Import the file `path` as module `name` (registered in sys.modules, as durable needs)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# -- running ---------------------------------------------------------------------------------


@dataclass
class Run:
    outcome: tuple[Any, ...]  # ("returned", value) or ("raised", type, args)
    log: list[Any]
    events: list[str]


@dataclass(frozen=True)
class Plan:
    """How to run a program durably (see the module docstring)."""

    store: str = "memory"  # or "disk", or "minimal": `MinimalBackend` (no inbox)
    fresh: tuple[bool, ...] = (True,)  # per call, cycled: a fresh DurableBackend, or the shared one
    recall_unpublished: bool = False  # re-call each pause without its event first
    early: bool = False  # a second instance with every event published before its first call
    reload: bool = False  # before each call after the first, import the module and make the
    # program durable again, as a new process would
    interleave: bool = False  # a second instance waits at its first pause while the first
    # instance runs, then finishes: instances share nothing, events reach only their own


class MinimalBackend(OrchestrationBackend):
    """A user's backend with only the three abstract methods, keeping the saved dicts as they
    are (not copied). Without an inbox, calling a paused instance again delivers its event."""

    def __init__(self, states: dict[str, dict[str, Any]]) -> None:
        self.states = states

    async def load_state(self, instance_id: str) -> dict[str, Any] | None:
        return self.states.get(instance_id)

    async def save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        self.states[instance_id] = state

    async def wait_for_event(self, instance_id: str, event_name: str) -> None:
        pass


@dataclass
class _Durable:
    subject: Subject
    plan: Plan
    store: Any  # a StateStore, or the states of MinimalBackend
    instance: str = field(default_factory=lambda: f"prop-{next(_instances)}")
    calls: int = 0
    backends: int = 0

    def __post_init__(self) -> None:
        self.minimal = self.plan.store == "minimal"
        self.shared = self.new_backend()

    def new_backend(self) -> Any:
        return MinimalBackend(self.store) if self.minimal else DurableBackend(self.store)

    def backend(self) -> Any:
        fresh = self.plan.fresh[self.backends % len(self.plan.fresh)]
        self.backends += 1
        return self.new_backend() if fresh else self.shared

    async def call(self) -> tuple[Any, ...]:
        assert self.subject.durable is not None
        program = self.subject.durable
        if self.plan.reload and self.calls:
            program = self.subject.remake()
        self.calls += 1
        backend = self.backend()
        return await _outcome(
            lambda: program(orchestration_backend=backend, instance_id=self.instance)
        )

    def publish(self, event: str) -> None:
        if not self.minimal:  # MinimalBackend: the next call is the delivery
            self.backend().publish_event(self.instance, event)


async def _outcome(call: Any) -> tuple[Any, ...]:
    """Await `call()`; a PauseForEventException propagates, any other exception is an outcome."""
    try:
        with anyio.fail_after(CALL_TIMEOUT):
            return ("returned", await call())
    except PauseForEventException:
        raise
    except Exception as e:
        return ("raised", type(e), e.args)


async def run_plain(subject: Subject) -> Run:
    reset()
    _PAUSES.clear()
    outcome = await _outcome(subject.plain)
    return Run(outcome, list(LOG), list(_PAUSES))


async def _run_durable(d: _Durable) -> Run:
    """Call `d` until it ends; the log is what it appends to `LOG` (not cleared here)."""
    start = len(LOG)
    events: list[str] = []
    for _ in range(MAX_CALLS):
        try:
            outcome = await d.call()
        except PauseForEventException as pause:
            events.append(pause.event)
            if d.plan.recall_unpublished and not d.minimal:
                await _recall_unpublished(d, pause.event)
            d.publish(pause.event)
            continue
        return Run(outcome, LOG[start:], events)
    raise Mismatch(f"paused {MAX_CALLS} times without ending: {events[-5:]}")


async def _recall_unpublished(d: _Durable, event: str) -> None:
    """Calling a paused instance without its event must pause again and run nothing."""
    log_before = list(LOG)
    try:
        again = await d.call()
    except PauseForEventException as e:
        if e.event != event:
            raise Mismatch(
                f"called again without the event {event!r}, it paused for {e.event!r}"
            ) from None
    else:
        raise Mismatch(f"called again without the event {event!r}, it ended: {again}")
    if log_before != LOG:
        raise Mismatch(
            f"called again without the event {event!r}, it ran code: {LOG[len(log_before) :]}"
        )


class Mismatch(AssertionError):
    """The durable run did not behave like the plain one."""


def _show(run: Run) -> str:
    lines = [f"  outcome: {run.outcome}", f"  events:  {run.events}", "  log:"]
    lines += [f"    {entry!r}" for entry in run.log]
    return "\n".join(lines)


def _expect(label: str, expected: Run, got: Run) -> None:
    if got != expected:
        raise Mismatch(f"{label}\nplain:\n{_show(expected)}\ndurable:\n{_show(got)}")


async def compare(subject: Subject, plan: Plan) -> Run:
    """Raise `Mismatch` unless the durable runs of `subject` under `plan` match its plain run.

    Returns the plain run.
    """
    if subject.durable is None:
        raise Mismatch(f"make_durable refused {subject.name}: {subject.refusal!r}")
    expected = await run_plain(subject)
    with tempfile.TemporaryDirectory(prefix="durable-prop-") as tmp:
        store: Any = {
            "disk": lambda: DiskStateStore(tmp),
            "memory": InMemoryStateStore,
            "minimal": dict,
        }[plan.store]()
        d = _Durable(subject, plan, store)
        reset()
        if plan.interleave:
            await _interleaved(subject, plan, store, d, expected)
        else:
            _expect(f"durable run ({plan})", expected, await _run_durable(d))

        reset()
        again = await d.call()
        _expect(
            "the finished instance called again", Run(expected.outcome, [], []), Run(again, LOG, [])
        )

        if plan.early and plan.store != "minimal":
            early = _Durable(subject, plan, store)
            for event in expected.events:
                early.publish(event)
            reset()
            try:
                outcome = await early.call()
            except PauseForEventException as e:
                raise Mismatch(
                    f"with all events {expected.events} published first, it paused for {e.event!r}"
                ) from None
            _expect(
                "all events published before the first call",
                Run(expected.outcome, expected.log, []),
                Run(outcome, list(LOG), []),
            )
    return expected


async def _interleaved(
    subject: Subject, plan: Plan, store: Any, d: _Durable, expected: Run
) -> None:
    """Another instance stops at its first pause; `d` runs to the end; then the other one."""
    other = _Durable(subject, plan, store)
    try:
        outcome: tuple[Any, ...] | None = await other.call()
        first: list[str] = []
    except PauseForEventException as pause:
        outcome, first = None, [pause.event]
    head = list(LOG)
    _expect(f"durable run beside a paused instance ({plan})", expected, await _run_durable(d))
    if outcome is None:
        other.publish(first[0])
        start = len(LOG)
        rest = await _run_durable(other)
        got = Run(rest.outcome, head + LOG[start:], first + rest.events)
    else:
        got = Run(outcome, head, [])
    _expect(f"the paused instance, finished after another one ({plan})", expected, got)
