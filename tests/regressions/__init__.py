"""Kept failing examples of the property tests (tests/test_property.py), and their support.

Every ``case_*.py`` module here is one program found by hypothesis, shrunk and written out by
hand as a readable module: an undecorated module-level ``async def program()`` (the harness
makes it durable, so a refusal by `make_durable` fails only that case) and a module-level
``BUG``: a string naming the bug in `durable` it shows (the test is then a strict xfail), or
None once the bug is fixed (then it is an ordinary regression test).
`test_regressions.py` runs each of them through the same comparator as the property tests
(`harness.py`).

Conventions of the programs (generated and kept alike):

* Side effects go to `LOG` through `log` (and `check`, a condition that logs each evaluation),
  so a missing or repeated entry shows code that was skipped or run twice.
* Every loop body starts with ``tick()``: a step counter that raises `StepLimit` (a
  BaseException, so no handler of the program swallows it) when a run takes far more steps than
  any generated program can, so a resume bug that loops forever fails instead of hanging.
* Nested durable calls go to the fixed children of `children.py`.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

LOG: list[Any] = []

STEP_LIMIT = 2_000
_steps = [0]


class StepLimit(BaseException):
    """A run took more than `STEP_LIMIT` loop iterations: it would never have ended."""


def log(*entry: Any) -> None:
    """Record one side effect (deep-copied, so later mutations do not rewrite the log)."""
    LOG.append(copy.deepcopy(entry[0] if len(entry) == 1 else entry))


def check(label: str, value: Any) -> Any:
    """A condition with a side effect: logs each evaluation, then returns `value`."""
    log("check", label)
    return value


def tick() -> None:
    """Count one loop iteration; raise `StepLimit` past `STEP_LIMIT` since `reset`."""
    _steps[0] += 1
    if _steps[0] > STEP_LIMIT:
        raise StepLimit(f"more than {STEP_LIMIT} loop iterations")


def reset() -> None:
    """Clear the log and the step counter before a run."""
    LOG.clear()
    _steps[0] = 0


def _described(e: BaseException | None) -> tuple[str, tuple[Any, ...]] | None:
    return None if e is None else (type(e).__name__, e.args)


def exc_now() -> tuple[str, tuple[Any, ...]] | None:
    """The exception being handled (``sys.exc_info()``), as its type name and args, or None."""
    return _described(sys.exc_info()[1])


def chain(e: BaseException) -> tuple[Any, ...]:
    """`e`, its ``__context__`` and ``__cause__`` (type names and args, one level: a saved
    exception keeps neither, so deeper links are not compared) and ``__suppress_context__``."""
    return (
        _described(e),
        _described(e.__context__),
        _described(e.__cause__),
        e.__suppress_context__,
    )
