"""Shared pytest configuration.

Async tests need no marker: ``anyio_mode = "auto"`` in pyproject.toml runs each of them on
asyncio and on trio.

``store`` is a fresh store of every kind (ids ``memory``, ``disk`` and ``sqlite``), closed
after the test: the contract suite in ``tests/stores/test_contract.py`` runs on each.

Two tiers. By default the suite runs quickly and still covers every feature on both runtimes
and every store. Tests marked ``exhaustive`` (the full differential cross product, thousands
of generated programs, long crash loops, every offset of the journal damage tests, the full
hypothesis example counts) are deselected unless pytest runs with ``--exhaustive``; CI runs
them as an extra step with ``-m exhaustive --exhaustive``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from durable.stores import DiskStateStore, InMemoryStateStore, SQLiteStateStore, StateStore

EXHAUSTIVE_HINT = "run them with --exhaustive (only them: -m exhaustive --exhaustive)"
_deselected = pytest.StashKey[int]()  # how many exhaustive tests this run left out


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--exhaustive",
        action="store_true",
        default=False,
        help="also run the tests marked 'exhaustive' (deselected by default)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --exhaustive, deselect the tests marked ``exhaustive``."""
    if config.getoption("exhaustive"):
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("exhaustive") else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
        config.stash[_deselected] = len(deselected)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    count = terminalreporter.config.stash.get(_deselected, 0)
    if count:
        terminalreporter.write_line(
            f"{count} tests of the exhaustive tier were deselected: {EXHAUSTIVE_HINT}"
        )


@pytest.fixture(params=["memory", "disk", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StateStore]:
    made: StateStore
    if request.param == "memory":
        made = InMemoryStateStore()
    elif request.param == "disk":
        made = DiskStateStore(tmp_path / "store")
    else:
        made = SQLiteStateStore(tmp_path / "store.db")
    yield made
    made.close()
