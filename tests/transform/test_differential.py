"""Differential tests: every corpus case run durably behaves exactly like the plain function.

The corpus (tests/corpus, see its ``__init__``) holds ``@make_durable`` functions; the cases
are those named ``case_*``.

Oracle: a plain copy of every ``async def`` of the corpus, built from its source with each
``raise PauseForEventException(e)`` statement replaced by ``_oracle_pause(e)``, which
evaluates and records ``e`` and goes on. The copies live in shallow copies of the modules'
namespaces in which every durable name is rebound to its plain copy, so a nested durable call
in the oracle calls the plain child. `LOG` and every other module object are shared, so both
runs write to the same log.

Durable run: call the case; on `PauseForEventException` publish that event and call again,
each call with a fresh `DurableBackend` over the same store, so nothing survives in memory
between calls, until it returns or raises.

Compared (`Run`): the return value, or the exception's type and args; the side-effect log,
entry by entry, so nothing ran twice and nothing was skipped; and the events paused for, in
order. Every test runs on both stores and on asyncio and trio (`placements`): by default each
case runs each of its four tests in one of the four (store, runtime) pairs, a different one per
test, so every case meets every store and both runtimes; the other three pairs are the
exhaustive tier (``--exhaustive``, see tests/conftest.py). Cases that fail because of a bug in
`durable` are listed in `KNOWN_BUGS` (strict xfails).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from regressions.harness import plain_copy

from durable import (
    DiskStateStore,
    DurableBackend,
    DurableError,
    DurableProgram,
    InMemoryStateStore,
    PauseForEventException,
    StateStore,
    make_durable,
)

corpus: Any = importlib.import_module(f"{__package__}.corpus" if __package__ else "corpus")

MAX_CALLS = 200  # more calls than any case pauses: a run that never ends is a failure
INSTANCE = "case-1"


# -- known bugs in `durable`: strict xfails ---------------------------------------------------

RESUMED = frozenset({"test_durable_run_matches_plain_run", "test_call_without_event_stays_paused"})
COMPARED = RESUMED | {"test_events_published_early_run_straight_through"}


@dataclass(frozen=True)
class Bug:
    reason: str
    tests: frozenset[str] = COMPARED  # the tests it fails; the others must pass


KNOWN_BUGS: dict[str, Bug] = {}  # case name -> the bug it shows; none open now


@pytest.fixture(autouse=True)
def _known_bug(request: pytest.FixtureRequest) -> None:
    """Mark a test of a case listed in KNOWN_BUGS as a strict xfail, if the bug fails it."""
    callspec = getattr(request.node, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    bug = KNOWN_BUGS.get(case.name) if isinstance(case, Case) else None
    if bug and request.node.originalname in bug.tests:
        request.applymarker(pytest.mark.xfail(strict=True, reason=bug.reason))


# -- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    plain: Any  # the plain copy, an ordinary async function
    program: DurableProgram[..., Any] | None  # None if make_durable refused it:
    refusal: Exception | None = None  # then its tests fail with this

    def __repr__(self) -> str:
        return self.name


def _load_cases() -> tuple[list[Case], list[str]]:
    """Every ``case_*`` of the corpus, with its plain copy.

    Each module gets a shallow copy of its namespace holding plain copies of its ``async def``
    functions (durable or not); then every name in those copies that is bound to a durable
    program (of any corpus module) is rebound to that program's plain copy. An undecorated case
    is made durable here, so that a construct `make_durable` refuses fails only that case's
    tests.
    """
    pauses: list[str] = []
    modules = [
        importlib.import_module(f"{corpus.__name__}.{info.name}")
        for info in pkgutil.iter_modules(corpus.__path__)
    ]
    namespaces = {m.__name__: {**vars(m), "_oracle_pause": pauses.append} for m in modules}
    plain_of: dict[int, Any] = {}  # id(DurableProgram) -> its plain copy
    cases = []
    for module in modules:
        namespace = namespaces[module.__name__]
        for name, obj in vars(module).items():
            fn = obj.__wrapped__ if isinstance(obj, DurableProgram) else obj
            if not inspect.iscoroutinefunction(fn) or fn.__module__ != module.__name__:
                continue
            plain = plain_copy(fn, namespace)  # plain coroutines too: they may call children
            if isinstance(obj, DurableProgram):
                plain_of[id(obj)] = plain
                if name.startswith("case_"):
                    cases.append(Case(name, plain, obj))
            elif name.startswith("case_"):
                try:
                    cases.append(Case(name, plain, make_durable(fn)))
                except Exception as e:  # a refusal, or a crash of make_durable
                    cases.append(Case(name, plain, None, e))
    for namespace in namespaces.values():
        for name, obj in namespace.items():
            if isinstance(obj, DurableProgram):
                namespace[name] = plain_of[id(obj)]
    assert len({c.name for c in cases}) == len(cases), "case names must be unique"
    return cases, pauses


CASES, _ORACLE_PAUSES = _load_cases()
ACCEPTED = [case for case in CASES if case.program is not None]  # make_durable took them


# -- running ---------------------------------------------------------------------------------


@dataclass
class Run:
    outcome: tuple[Any, ...]  # ("returned", value) or ("raised", type, args)
    log: list[Any]
    events: list[str]


async def _outcome(call: Any) -> tuple[Any, ...]:
    """Await `call()`; a PauseForEventException propagates, any other exception is an outcome."""
    try:
        with anyio.fail_after(30):
            return ("returned", await call())
    except PauseForEventException:
        raise
    except Exception as e:
        return ("raised", type(e), e.args)


async def run_plain(case: Case) -> Run:
    corpus.LOG.clear()
    _ORACLE_PAUSES.clear()
    outcome = await _outcome(case.plain)
    return Run(outcome, list(corpus.LOG), list(_ORACLE_PAUSES))


async def call_durable(case: Case, store: StateStore) -> tuple[Any, ...]:
    if case.program is None:
        pytest.fail(f"make_durable refused {case.name}: {case.refusal!r}")
    backend = DurableBackend(store)
    return await _outcome(lambda: case.program(orchestration_backend=backend, instance_id=INSTANCE))


async def run_durable(case: Case, store: StateStore, *, recall_unpublished: bool = False) -> Run:
    """Call until the case ends, publishing each event it pauses for.

    With `recall_unpublished`, every pause is first called again without publishing: that must
    raise the same pause without running anything.
    """
    corpus.LOG.clear()
    events: list[str] = []
    for _ in range(MAX_CALLS):
        try:
            outcome = await call_durable(case, store)
        except PauseForEventException as pause:
            events.append(pause.event)
            if recall_unpublished:
                log_before = list(corpus.LOG)
                with pytest.raises(PauseForEventException) as again:
                    await call_durable(case, store)
                assert again.value.event == pause.event
                assert log_before == corpus.LOG, "a call without the event ran code"
            DurableBackend(store).publish_event(INSTANCE, pause.event)
            continue
        return Run(outcome, list(corpus.LOG), events)
    pytest.fail(f"{case.name} paused {MAX_CALLS} times without ending: {events[-5:]}")


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return InMemoryStateStore() if request.param == "memory" else DiskStateStore(tmp_path)


# The (runtime, store) pairs; `placements` keeps one per case and test in the default run.
PAIRS = [("asyncio", "memory"), ("trio", "disk"), ("trio", "memory"), ("asyncio", "disk")]


def placements(cases: list[Case], test: int) -> pytest.MarkDecorator:
    """Parametrize the `test`-th test (0 to 3) over every case of `cases` in every pair of
    `PAIRS`: case number i runs in pair ``(i + test) % 4`` by default, in the three others only
    in the exhaustive tier. The four tests of a case thus run in the four pairs, and each pair
    covers a quarter of the corpus."""
    number = {case.name: i for i, case in enumerate(CASES)}
    return pytest.mark.parametrize(
        ("anyio_backend", "store", "case"),
        [
            pytest.param(
                backend,
                store,
                case,
                id=f"{backend}-{store}-{case.name}",
                marks=() if k == (number[case.name] + test) % 4 else pytest.mark.exhaustive,
            )
            for case in cases
            for k, (backend, store) in enumerate(PAIRS)
        ],
        indirect=["store"],
    )


# -- tests -----------------------------------------------------------------------------------


def test_corpus_is_large() -> None:
    assert len(CASES) >= 40


@placements(CASES, test=0)
async def test_durable_run_matches_plain_run(case: Case, store: StateStore) -> None:
    expected = await run_plain(case)
    assert await run_durable(case, store) == expected


@placements(CASES, test=1)
async def test_call_without_event_stays_paused(case: Case, store: StateStore) -> None:
    expected = await run_plain(case)
    assert await run_durable(case, store, recall_unpublished=True) == expected


@placements(CASES, test=2)
async def test_events_published_early_run_straight_through(case: Case, store: StateStore) -> None:
    expected = await run_plain(case)
    for event in expected.events:
        DurableBackend(store).publish_event(INSTANCE, event)
    corpus.LOG.clear()
    outcome = await call_durable(case, store)
    assert Run(outcome, list(corpus.LOG), []) == Run(expected.outcome, expected.log, [])


@placements(ACCEPTED, test=3)
async def test_finished_instance_returns_saved_outcome(case: Case, store: StateStore) -> None:
    finished = await run_durable(case, store)
    if finished.outcome[0] == "raised":  # durable's own errors do not finish an instance
        assert not issubclass(finished.outcome[1], DurableError), finished.outcome
    for _ in range(2):
        corpus.LOG.clear()
        assert await call_durable(case, store) == finished.outcome
        assert corpus.LOG == [], "a finished instance ran code"
