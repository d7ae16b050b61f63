"""Shared pytest configuration.

Async tests need no marker: ``anyio_mode = "auto"`` in pyproject.toml runs each of them on
asyncio and on trio.

``store`` is a fresh store of every kind (ids ``memory``, ``disk`` and ``sqlite``), closed
after the test: the contract suite in ``tests/stores/test_contract.py`` runs on each.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from durable.stores import DiskStateStore, InMemoryStateStore, SQLiteStateStore, StateStore


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
