"""The `durable` command: look at the instances in a store, send them events, run a worker.

One module per concern: `_commands` (arguments, opening the store, list/show/history/send/
cancel), `_worker` (``durable worker``), `_output` (JSON and tables).
"""

from __future__ import annotations

from ._commands import main

__all__ = ["main"]
