"""Shared pytest configuration.

Async tests need no marker: ``anyio_mode = "auto"`` in pyproject.toml runs each of them on
asyncio and on trio.
"""

import pathlib
from collections.abc import Iterator

import pytest

from durable import DiskStateStore, InMemoryStateStore, StateStore

STORES = ["memory", "disk"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StateStore]:
    """A fresh, empty store of every kind that ships."""
    made: StateStore = (
        InMemoryStateStore() if request.param == "memory" else DiskStateStore(tmp_path / "store")
    )
    yield made
    made.close()
