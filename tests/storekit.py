"""What tests share about stores, importable by name (a test module importing from `conftest`
would get whichever of the several `conftest` modules pytest imported first): the PostgreSQL
server of the tests, its admin connection, and `make_store`, behind the ``store`` fixture."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import pytest

from durable.stores import (
    DiskStateStore,
    InMemoryStateStore,
    PostgresStateStore,
    SQLiteStateStore,
    StateStore,
)

__all__ = ["POSTGRES_DSN", "PostgresAdmin", "make_store"]

POSTGRES_DSN = os.environ.get("DURABLE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


class PostgresAdmin:
    """The session's connection for setting up and dropping test schemas; reconnects once
    when the server dropped it (a test restarts the server)."""

    def __init__(self) -> None:
        import psycopg

        self._conn = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5)

    def execute(self, query: str, params: Sequence[object] = ()) -> Any:
        import psycopg

        try:
            return self._conn.execute(query, params or None)
        except psycopg.OperationalError:
            self._conn.close()
            self._conn = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5)
            return self._conn.execute(query, params or None)

    def close(self) -> None:
        self._conn.close()


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StateStore:
    """A fresh store of ``kind`` (the ids of the ``store`` fixture)."""
    if kind == "memory":
        return InMemoryStateStore()
    if kind == "disk":
        return DiskStateStore(tmp_path / "store")
    if kind == "sqlite":
        return SQLiteStateStore(tmp_path / "store.db")
    from psycopg.conninfo import make_conninfo

    schema = request.getfixturevalue("store_schema")
    # Tests need no power-loss durability: without the WAL flush at each commit a write
    # costs a fraction of a millisecond instead of an fsync.
    fast = make_conninfo(POSTGRES_DSN, options="-c synchronous_commit=off")
    return PostgresStateStore(fast, schema=schema, max_size=4)
