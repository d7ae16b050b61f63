"""Shared pytest configuration.

Async tests need no marker: ``anyio_mode = "auto"`` in pyproject.toml runs each of them on
asyncio and on trio.

``store`` is a fresh store of every kind (ids ``memory`` and ``disk``), closed after the test:
the contract suite in ``tests/stores/test_contract.py`` runs on each.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from durable.stores import DiskStateStore, InMemoryStateStore, StateStore


@pytest.fixture(params=[pytest.param("memory", id="memory"), pytest.param("disk", id="disk")])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StateStore]:
    made: StateStore = (
        InMemoryStateStore() if request.param == "memory" else DiskStateStore(tmp_path / "store")
    )
    yield made
    made.close()
