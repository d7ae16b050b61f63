"""Run every kept failing example (``case_*.py`` here) through the property tests' comparator.

A case whose module sets ``BUG`` to a reason is a strict xfail: it must keep failing until the
bug is fixed; then set ``BUG = None`` and it becomes an ordinary regression test. Each case runs
on both stores and on a minimal user backend, with a fresh backend per call and with one
reused, re-calls without the event, events published early, another instance interleaved, and
the module imported again before each call; and, through the anyio plugin, on asyncio and trio.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

from .harness import Plan, compare, subject_of

_HERE = Path(__file__).parent
CASES: list[ModuleType] = [
    importlib.import_module(f"{__package__}.{info.name}")
    for info in pkgutil.iter_modules([str(_HERE)])
    if info.name.startswith("case_")
]
PLANS = [
    Plan(store="memory", fresh=(True,), recall_unpublished=True, early=True, interleave=True),
    Plan(store="disk", fresh=(False, True), early=True, reload=True),
    Plan(store="minimal", fresh=(False,), interleave=True),
]


def _param(case: ModuleType) -> object:
    name = case.__name__.rpartition(".")[2]
    bug = getattr(case, "BUG", None)
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(case, id=name, marks=marks)


def test_cases_declare_bug() -> None:
    for case in CASES:
        assert hasattr(case, "BUG"), f"{case.__name__} must set BUG (a reason, or None)"


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.store)
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
async def test_kept_example(case: ModuleType, plan: Plan) -> None:
    await compare(subject_of(case), plan)
