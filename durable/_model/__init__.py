"""The persisted contract, pure and without I/O: snapshots, their format upgrades, the wait
union, the instance header, and the value codec."""

from __future__ import annotations

from ._snapshot import FORMAT_VERSION, CallStack, FunctionCall, ProgramIdentity, Snapshot, Status

__all__ = ["FORMAT_VERSION", "CallStack", "FunctionCall", "ProgramIdentity", "Snapshot", "Status"]
