"""The only room that runs user code: programs, runs and frames, upgrades, the backend."""

from __future__ import annotations

from ._backend import DurableBackend, OrchestrationBackend
from ._check import check
from ._clock import Clock, SystemClock
from ._current import InstanceInfo, current_instance
from ._engine import DurableRuntime
from ._gather import gather
from ._primitives import sleep, sleep_until, wait_for_event
from ._program import CodeBlock, DurableProgram, make_durable
from ._rehome import Rehomed, rehome
from ._repair import Repair
from ._steps import RetryPolicy, Step, StepInfo, current_step, step
from ._upgrade import CheckReport, SavedFrame
from ._worker import InstanceHandle, Worker, WorkerStats

__all__ = [
    "CheckReport",
    "Clock",
    "RetryPolicy",
    "Step",
    "StepInfo",
    "SystemClock",
    "current_step",
    "current_instance",
    "InstanceInfo",
    "InstanceHandle",
    "Worker",
    "WorkerStats",
    "gather",
    "sleep",
    "sleep_until",
    "step",
    "wait_for_event",
    "CodeBlock",
    "DurableBackend",
    "DurableProgram",
    "DurableRuntime",
    "OrchestrationBackend",
    "Repair",
    "SavedFrame",
    "check",
    "make_durable",
    "Rehomed",
    "rehome",
]
