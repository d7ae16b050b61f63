"""State stores: where snapshots, event inboxes and audit histories live.

The contract is `StateStore` (``durable/stores/_contract.py``); each store is a module or
small package of its own.
"""

from __future__ import annotations

from ._contract import StateStore, new_event_id
from ._disk import DiskStateStore
from ._memory import InMemoryStateStore

__all__ = ["DiskStateStore", "InMemoryStateStore", "StateStore", "new_event_id"]
