"""State stores: where snapshots, headers, event inboxes and audit histories live.

The contract is `StateStore` (see ``durable/stores/_contract.py``); each store is a module or
small package of its own. Stores see bytes plus a typed header, never Pydantic snapshots: the
runtime is the only writer of meaning.
"""

from __future__ import annotations

from ._contract import InboxEvent, Lease, StateStore, StoredInstance, new_event_id
from ._disk import DiskStateStore
from ._memory import InMemoryStateStore
from ._postgres import PostgresStateStore
from ._sqlite import SQLiteStateStore

__all__ = [
    "DiskStateStore",
    "InboxEvent",
    "InMemoryStateStore",
    "Lease",
    "PostgresStateStore",
    "SQLiteStateStore",
    "StateStore",
    "StoredInstance",
    "new_event_id",
]
