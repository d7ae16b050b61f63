"""The persisted contract, pure and without I/O: snapshots, their format upgrades, the wait
union, the instance header, and the value codec."""

from __future__ import annotations

from ._header import FINISHED, STATUSES, InstanceHeader, is_ready
from ._reader import header_of, read_snapshot
from ._snapshot import FORMAT_VERSION, CallStack, FunctionCall, ProgramIdentity, Snapshot, Status
from ._values import DecodedFrame, DecodedValue, DecodedValues, decode_values
from ._wait import (
    CANCEL_EVENT,
    ChildrenWait,
    EventWait,
    RetryWait,
    TimerWait,
    Wait,
    wait_events,
    wait_wake_at,
)

__all__ = [
    "CANCEL_EVENT",
    "FINISHED",
    "FORMAT_VERSION",
    "STATUSES",
    "CallStack",
    "ChildrenWait",
    "DecodedFrame",
    "DecodedValue",
    "DecodedValues",
    "EventWait",
    "FunctionCall",
    "InstanceHeader",
    "ProgramIdentity",
    "RetryWait",
    "Snapshot",
    "Status",
    "TimerWait",
    "Wait",
    "decode_values",
    "header_of",
    "is_ready",
    "read_snapshot",
    "wait_events",
    "wait_wake_at",
]
