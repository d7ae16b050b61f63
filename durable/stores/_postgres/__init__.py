"""`PostgresStateStore`: the store on PostgreSQL (module `_store`). psycopg is imported when a
store is made, not with this package: ``import durable`` works without the ``postgres``
extra."""

from __future__ import annotations

from ._store import PostgresStateStore

__all__ = ["PostgresStateStore"]
