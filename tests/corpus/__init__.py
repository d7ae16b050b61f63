"""The corpus of the differential tests (tests/test_differential.py).

Conventions:

* Every durable program is a module-level ``@make_durable async def``. Those named ``case_*``
  are the cases: the harness calls each with no arguments (parameters take their defaults).
  The others are children, reached only through nested durable calls from the cases.
* A ``case_*`` whose construct `make_durable` may refuse is left undecorated: the harness makes
  it durable itself, so a refusal fails that case's tests only, not the import of the corpus.
* Side effects go to `LOG` through `log`, never to locals or arguments, so that the log shows
  what really ran: an entry that is missing or repeated means code was skipped or re-run.
* Plain ``async def`` helpers (not durable) are ordinary coroutines, awaited inline.
* Arguments and locals live at a pause are saved in snapshots, so they hold only values the
  codec saves (ints, strs, lists, tuples, dicts, sets, dataclasses, Decimal, ...).
* Module-level state other than `LOG` is mutable objects only (never rebound with ``global``):
  the plain oracle runs in a shallow copy of the module's namespace and must see the same objects.
"""

from __future__ import annotations

import copy
from typing import Any

LOG: list[Any] = []


def log(*entry: Any) -> None:
    """Record one side effect: a tuple of the arguments, or the single argument itself.

    Deep-copied, so that later mutations of a logged object do not rewrite the log.
    """
    LOG.append(copy.deepcopy(entry[0] if len(entry) == 1 else entry))


def check(label: str, value: Any) -> Any:
    """A condition with a side effect: logs each evaluation, then returns `value`."""
    log("check", label)
    return value


def value(label: str, v: Any) -> Any:
    """An expression with a side effect, to make evaluation order visible in the log."""
    log("eval", label)
    return v
