"""durable: make async functions durable and resumable.

``make_durable(fn)`` rewrites an ``async def`` so that every pause saves the live local
variables of every frame, as a validated, versioned snapshot; a later call with the same
``instance_id`` — in this process or another — continues from there without replaying.
"""

from __future__ import annotations

from ._model import CallStack, FunctionCall, Snapshot
from ._model._codec import restrict_classes
from ._runtime import (
    CheckReport,
    Clock,
    CodeBlock,
    DurableBackend,
    DurableProgram,
    DurableRuntime,
    InstanceHandle,
    InstanceInfo,
    OrchestrationBackend,
    Rehomed,
    RetryPolicy,
    SavedFrame,
    StepInfo,
    SystemClock,
    Worker,
    WorkerStats,
    check,
    current_instance,
    current_step,
    gather,
    make_durable,
    rehome,
    sleep,
    sleep_until,
    step,
    wait_for_event,
)
from ._tracing import EVENTS
from ._transform import DurableAstTransformer
from .errors import (
    ConcurrentResumeError,
    DurableError,
    EventTimeoutError,
    IncompatibleSnapshotError,
    InstanceCancelledError,
    InstanceExistsError,
    InstanceLeasedError,
    InstanceNotFoundError,
    InvalidInstanceIdError,
    InvalidWaitError,
    NoSourceError,
    PauseForEventException,
    RaisedAtWait,
    RepairRefusedError,
    SnapshotValidationError,
    StoreError,
    Suspended,
    UnserializableStateError,
    UnsupportedSyntaxError,
)
from .stores import (
    DiskStateStore,
    InMemoryStateStore,
    PostgresStateStore,
    SQLiteStateStore,
    StateStore,
)

__version__ = "0.1.0"

__all__ = [
    # making and running durable functions
    "make_durable",
    "DurableProgram",
    "DurableRuntime",
    "PauseForEventException",
    "Suspended",
    # primitives inside durable functions
    "wait_for_event",
    "sleep",
    "sleep_until",
    "step",
    "RetryPolicy",
    "current_step",
    "StepInfo",
    "gather",
    "current_instance",
    "InstanceInfo",
    # many instances in one process
    "Worker",
    "InstanceHandle",
    "WorkerStats",
    # time
    "Clock",
    "SystemClock",
    # state
    "CallStack",
    "FunctionCall",
    "CodeBlock",
    "Snapshot",
    # backends and stores
    "OrchestrationBackend",
    "DurableBackend",
    "StateStore",
    "InMemoryStateStore",
    "DiskStateStore",
    "SQLiteStateStore",
    "PostgresStateStore",
    # code changes under paused instances
    "SavedFrame",
    # what loading a snapshot may construct
    "restrict_classes",
    "check",
    "CheckReport",
    "rehome",
    "Rehomed",
    # the transformer
    "DurableAstTransformer",
    # tracing
    "EVENTS",
    # errors
    "DurableError",
    "UnsupportedSyntaxError",
    "NoSourceError",
    "UnserializableStateError",
    "SnapshotValidationError",
    "IncompatibleSnapshotError",
    "InvalidInstanceIdError",
    "StoreError",
    "ConcurrentResumeError",
    "InvalidWaitError",
    "RaisedAtWait",
    "EventTimeoutError",
    "InstanceCancelledError",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InstanceLeasedError",
    "RepairRefusedError",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("durable."):
        _obj.__module__ = "durable"
del _name, _obj
